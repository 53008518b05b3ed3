/**
 * The console multiplexer's I/O: a ConsoleDevice (the VM console, or a dev-mode tty) under the
 * pure MuxMachine, the terminal hub behind it. Every effect of the machine is carried out here,
 * in order; nothing here waits on the console or on a terminal (the device queues with a bound,
 * the hub's write is a bounded queue too, attachments are read as they come).
 */
import type { Attachment, TerminalHub } from "../hub.ts";
import { AcondError } from "../../errors.ts";
import { log } from "../../util/log.ts";
import { type MuxEffect, MuxMachine, type Size, type Target } from "./machine.ts";

/** A device the driver renders on (./device.ts). */
export interface MuxDevice {
  write(data: Uint8Array): void;
  setMode(mode: "line" | "raw"): void;
  size(): Size | null;
  close(): void;
}

/** The console's debug shell (./shell.ts): one terminal of its own, outside the hub. */
export interface ShellTerminal {
  /** Starts the shell if it is not running; an attachment to it (its kept output first). */
  attach(size: Size): Promise<Attachment>;
  write(data: Uint8Array): void;
  resize(size: Size): void;
}

export interface MuxDeps {
  hub: TerminalHub;
  /** Opens the device; input and its end come back through the callbacks. */
  open(onInput: (data: Uint8Array) => void, onGone: (why: string) => void): MuxDevice;
  logLines(): string[];
  /** acond.debug_shell: the shell; null: off. */
  shell: ShellTerminal | null;
  /** The console is acond's stderr (PID 1): hold log lines off it while a terminal is entered. */
  holdStderr?: (on: boolean) => void;
  /** How long a lone ESC is held (it may start the hotkey); default 30 ms. */
  escapeMs?: number;
  /** While entered, how often the console's size is looked at; default 1000 ms (0: never). */
  sizePollMs?: number;
}

interface Current {
  target: Target;
  attachment: Attachment | null;
  gen: number;
}

export class ConsoleMux {
  readonly #deps: MuxDeps;
  readonly #machine: MuxMachine;
  #device: MuxDevice | null = null;
  #current: Current | null = null;
  #gen = 0;
  #unsubscribe: (() => void) | null = null;
  #escTimer: ReturnType<typeof setTimeout> | null = null;
  #sizeTimer: ReturnType<typeof setInterval> | null = null;
  #stopped = false;

  constructor(deps: MuxDeps) {
    this.#deps = deps;
    this.#machine = new MuxMachine({
      list: () => deps.hub.list(),
      logLines: () => deps.logLines(),
      consoleSize: () => this.#device?.size() ?? null,
    }, { debugShell: deps.shell !== null });
  }

  /** Opens the console and shows the prompt; throws when the device cannot be opened. */
  start(): void {
    this.#device = this.#deps.open(
      (data) => this.#input(data),
      (why) => this.#gone(why),
    );
    this.#unsubscribe = this.#deps.hub.onChange((c) => this.#run(this.#machine.change(c)));
    this.#run(this.#machine.start());
  }

  /** Leaves any terminal, restores the console and closes it; idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#detach();
    this.#unsubscribe?.();
    this.#clearTimers();
    this.#deps.holdStderr?.(false);
    this.#device?.close();
    this.#device = null;
  }

  #input(data: Uint8Array): void {
    if (this.#escTimer !== null) {
      clearTimeout(this.#escTimer);
      this.#escTimer = null;
    }
    this.#run(this.#machine.input(data));
    if (this.#machine.holding) {
      this.#escTimer = setTimeout(() => {
        this.#escTimer = null;
        this.#run(this.#machine.flush());
      }, this.#deps.escapeMs ?? 30);
    }
  }

  #gone(why: string): void {
    log.warn(`console: ${why}; the console multiplexer stops (terminals go on)`);
    this.#device = null;
    this.stop();
  }

  #run(fx: MuxEffect[]): void {
    for (const f of fx) {
      if (this.#stopped) return;
      try {
        this.#effect(f);
      } catch (e) {
        log.warn(`console: ${f.kind}: ${(e as Error).message}`);
      }
    }
  }

  #effect(f: MuxEffect): void {
    switch (f.kind) {
      case "write":
        return this.#device?.write(f.data);
      case "mode":
        this.#device?.setMode(f.mode);
        this.#deps.holdStderr?.(f.mode === "raw");
        return;
      case "attach":
        return void this.#attach(f.target, f.size);
      case "detach":
        return this.#detach();
      case "input":
        return this.#write(f.data);
      case "resize":
        return this.#resize(f.size);
    }
  }

  #write(data: Uint8Array): void {
    const cur = this.#current;
    if (!cur) return;
    try {
      if (cur.target.kind === "shell") this.#deps.shell?.write(data);
      else this.#deps.hub.write(cur.target.ref, data);
    } catch (e) {
      // A full input queue loses this input (the terminal does not read); anything else means
      // the terminal is gone.
      if (e instanceof AcondError && e.code === "resource_exhausted") return;
      this.#run(this.#machine.attachEnded(cur.target, (e as Error).message));
    }
  }

  #resize(size: Size): void {
    const cur = this.#current;
    if (!cur) return;
    try {
      if (cur.target.kind === "shell") this.#deps.shell?.resize(size);
      else this.#deps.hub.resize(cur.target.ref, size.rows, size.cols);
    } catch (e) {
      log.debug(`console: resize: ${(e as Error).message}`);
    }
  }

  async #attach(target: Target, size: Size): Promise<void> {
    this.#detach();
    const gen = ++this.#gen;
    const cur: Current = { target, attachment: null, gen };
    this.#current = cur;
    let att: Attachment;
    try {
      if (target.kind === "shell") {
        if (!this.#deps.shell) throw new Error("no debug shell");
        att = await this.#deps.shell.attach(size);
      } else {
        try {
          this.#deps.hub.resize(target.ref, size.rows, size.cols);
        } catch { /* an exited terminal: its scrollback can still be shown */ }
        att = this.#deps.hub.attach(target.ref, { scrollback: true });
      }
    } catch (e) {
      if (this.#current === cur) {
        this.#current = null;
        this.#run(this.#machine.attachEnded(target, (e as Error).message));
      }
      return;
    }
    if (this.#current !== cur) return att.close(); // left before the attachment came
    cur.attachment = att;
    this.#startSizePoll();
    let ended = "the terminal went away";
    try {
      for await (const chunk of att) {
        if (this.#current !== cur) break;
        this.#run(this.#machine.output(target, chunk));
        if (chunk.exit) return;
      }
    } catch (e) {
      ended = (e as Error).message;
    } finally {
      att.close();
      if (this.#current === cur) this.#current = null;
    }
    // The attachment ended on its own (not by a detach): back to the prompt, saying why.
    if (this.#machine.entered && this.#gen === gen) {
      this.#run(this.#machine.attachEnded(target, ended));
    }
  }

  #detach(): void {
    const cur = this.#current;
    this.#current = null;
    cur?.attachment?.close();
    this.#clearTimers();
  }

  #startSizePoll(): void {
    const ms = this.#deps.sizePollMs ?? 1000;
    if (ms <= 0 || this.#sizeTimer !== null) return;
    const timer = setInterval(() => this.#run(this.#machine.sizeChanged()), ms);
    Deno.unrefTimer(timer);
    this.#sizeTimer = timer;
  }

  #clearTimers(): void {
    if (this.#escTimer !== null) clearTimeout(this.#escTimer);
    if (this.#sizeTimer !== null) clearInterval(this.#sizeTimer);
    this.#escTimer = this.#sizeTimer = null;
  }
}
