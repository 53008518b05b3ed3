/**
 * The VM console's multiplexer as a pure state machine: bytes typed on the console, output and
 * changes of terminals in; effects out (text to render, the console's mode, attach, detach,
 * input and sizes for the entered terminal). No I/O: the driver (./driver.ts) carries the
 * effects out, in order, and tells the machine what came of them.
 *
 * At the prompt the machine is a small line editor (the console is in raw input mode with
 * output processing on: the machine echoes). Entered, every byte goes to the terminal except the
 * detach hotkey (../hotkey.ts). The machine keeps no terminal output: what a terminal wrote while
 * nobody watched is the hub's scrollback, replayed by the attachment on enter.
 */
import type { TerminalChange, TerminalChunk, TerminalRef, TerminalSummary } from "../hub.ts";
import { HOTKEY_TEXT, HotkeyDetector } from "../hotkey.ts";
import {
  CRLF,
  exitText,
  helpText,
  listText,
  logText,
  parseRef,
  PROMPT,
  refText,
} from "./format.ts";

export interface Size {
  rows: number;
  cols: number;
}

/** What the machine may look at (synchronous reads, no effects). */
export interface MuxView {
  list(): TerminalSummary[];
  /** acond's recent log lines, oldest first. */
  logLines(): string[];
  /** The console's window size, or null when it cannot report one (a serial line). */
  consoleSize(): Size | null;
}

/** What can be entered: a terminal of the hub, or the debug shell. */
export type Target = { kind: "terminal"; ref: TerminalRef } | { kind: "shell" };

export type MuxEffect =
  /** Text for the console. */
  | { kind: "write"; data: Uint8Array }
  /** The console's mode: `line` (prompt: no echo, output processing on) or `raw` (entered). */
  | { kind: "mode"; mode: "line" | "raw" }
  /** Attach to the target (its kept output first) at this size; then feed output(). */
  | { kind: "attach"; target: Target; size: Size }
  /** Close the attachment of the entered target. */
  | { kind: "detach" }
  /** Input for the entered target. */
  | { kind: "input"; data: Uint8Array }
  /** The entered target's new window size. */
  | { kind: "resize"; size: Size };

export interface MuxOptions {
  /** acond.debug_shell: the `shell` command exists. */
  debugShell: boolean;
}

export const DEFAULT_SIZE: Readonly<Size> = Object.freeze({ rows: 24, cols: 80 });
/** Longest command line; more is refused with a bell. */
export const MAX_LINE = 256;
/** Notices kept while a terminal is entered (exits of the others), shown on return. */
export const MAX_PENDING_NOTICES = 16;
const DEFAULT_LOG_LINES = 40;

const enc = new TextEncoder();
const sameRef = (a: TerminalRef, b: TerminalRef) =>
  a.containerId === b.containerId && a.session === b.session;

export class MuxMachine {
  readonly #view: MuxView;
  readonly #opts: MuxOptions;
  #line = "";
  /** Set while a terminal (or the shell) is entered. */
  #entered: Target | null = null;
  #hotkey = new HotkeyDetector();
  /** At the prompt: inside an escape sequence (arrow keys...), which is swallowed. */
  #esc: 0 | 1 | 2 | 3 = 0;
  #lastCr = false;
  /** `size ROWSxCOLS`; null: follow the console. */
  #fixedSize: Size | null = null;
  /** The size last given to the entered target. */
  #sentSize: Size | null = null;
  #pending: string[] = [];
  #pendingLost = 0;

  constructor(view: MuxView, opts: MuxOptions) {
    this.#view = view;
    this.#opts = opts;
  }

  /** What is entered now (null: the prompt). */
  get entered(): Target | null {
    return this.#entered;
  }

  /** The banner and the first prompt. */
  start(): MuxEffect[] {
    return [
      { kind: "mode", mode: "line" },
      write(`${CRLF}acond console (interactive mode): type help for the commands${CRLF}${PROMPT}`),
    ];
  }

  /** Bytes typed on the console. */
  input(bytes: Uint8Array): MuxEffect[] {
    const fx: MuxEffect[] = [];
    let rest = bytes;
    while (rest.length > 0) {
      if (this.#entered) rest = this.#enteredInput(rest, fx);
      else rest = this.#promptInput(rest, fx);
    }
    return fx;
  }

  /** No input came after a held ESC (the driver's short timer): pass it on. */
  flush(): MuxEffect[] {
    if (!this.#entered) return [];
    const esc = this.#hotkey.flush();
    return esc.length ? [{ kind: "input", data: esc }] : [];
  }

  /** Whether the driver should call flush() soon. */
  get holding(): boolean {
    return this.#entered !== null && this.#hotkey.holding;
  }

  /** A chunk of the entered target's attachment (the driver drops others' after a detach). */
  output(target: Target, chunk: TerminalChunk): MuxEffect[] {
    if (!this.#entered || !sameTarget(this.#entered, target)) return [];
    const fx: MuxEffect[] = [];
    if (chunk.data.length) fx.push(write(chunk.data));
    if (chunk.exit) {
      const what = targetText(target);
      this.#leave(fx, `${CRLF}[${what} exited: ${exitText(chunk.exit)}]${CRLF}`, false);
    }
    return fx;
  }

  /** The attachment ended without an exit (the terminal went away, or attaching failed). */
  attachEnded(target: Target, why: string): MuxEffect[] {
    if (!this.#entered || !sameTarget(this.#entered, target)) return [];
    const fx: MuxEffect[] = [];
    this.#leave(fx, `${CRLF}[${targetText(target)}: ${clean(why)}]${CRLF}`, false);
    return fx;
  }

  /** A change of the hub's terminals: exits are announced at the prompt (or kept until then). */
  change(c: TerminalChange): MuxEffect[] {
    if (c.kind === "removed") return [];
    if (this.#entered?.kind === "terminal" && sameRef(this.#entered.ref, c.ref)) return [];
    const text = c.kind === "exited"
      ? `[terminal ${refText(c.ref)} exited: ${exitText(c.exit)}]`
      : `[new terminal ${refText(c.ref)}: enter ${refText(c.ref)}]`;
    if (this.#entered) {
      if (c.kind !== "exited") return [];
      if (this.#pending.length < MAX_PENDING_NOTICES) this.#pending.push(text);
      else this.#pendingLost++;
      return [];
    }
    return [this.#notice(text)];
  }

  /** The console's size may have changed (SIGWINCH, or the driver polled it). */
  sizeChanged(): MuxEffect[] {
    const fx: MuxEffect[] = [];
    this.#followSize(fx);
    return fx;
  }

  // ---- entered ----

  #enteredInput(bytes: Uint8Array, fx: MuxEffect[]): Uint8Array {
    this.#followSize(fx);
    const r = this.#hotkey.feed(bytes);
    if (r.data.length) fx.push({ kind: "input", data: r.data });
    if (!r.detach) return new Uint8Array(0);
    const what = targetText(this.#entered!);
    fx.push({ kind: "detach" });
    this.#leave(fx, `${CRLF}[left ${what}]${CRLF}`, true);
    return r.rest;
  }

  #followSize(fx: MuxEffect[]): void {
    if (!this.#entered) return;
    const size = this.#size();
    if (this.#sentSize && size.rows === this.#sentSize.rows && size.cols === this.#sentSize.cols) {
      return;
    }
    this.#sentSize = size;
    fx.push({ kind: "resize", size });
  }

  /** Back to the prompt: `detached` when the detach effect was already emitted. */
  #leave(fx: MuxEffect[], text: string, detached: boolean): void {
    if (!detached) fx.push({ kind: "detach" });
    this.#entered = null;
    this.#sentSize = null;
    this.#hotkey.reset();
    this.#line = "";
    this.#esc = 0;
    fx.push({ kind: "mode", mode: "line" }, write(text));
    for (const p of this.#pending) fx.push(write(p + CRLF));
    if (this.#pendingLost) fx.push(write(`[${this.#pendingLost} more notices not shown]${CRLF}`));
    this.#pending = [];
    this.#pendingLost = 0;
    fx.push(write(PROMPT));
  }

  // ---- the prompt ----

  #promptInput(bytes: Uint8Array, fx: MuxEffect[]): Uint8Array {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      const wasCr = this.#lastCr;
      this.#lastCr = false;
      if (this.#esc === 1) { // after ESC: [ or O starts a sequence, anything else ends it
        this.#esc = b === 0x5b || b === 0x4f ? 2 : b === 0x0f ? 3 : 0;
        continue;
      }
      if (this.#esc === 3) { // the hotkey at the prompt: nothing to leave
        this.#esc = 0;
        if (b === 0x78 || b === 0x58) continue;
      }
      if (this.#esc === 2) { // CSI/SS3 parameters until a final byte
        if (b >= 0x40 && b <= 0x7e) this.#esc = 0;
        continue;
      }
      if (b === 0x1b) {
        this.#esc = 1;
      } else if (b === 0x0d || b === 0x0a) {
        if (b === 0x0a && wasCr) continue; // CR LF is one Enter
        this.#lastCr = b === 0x0d;
        const line = this.#line;
        this.#line = "";
        fx.push(write(CRLF));
        this.#command(line.trim(), fx);
        if (this.#entered) return bytes.slice(i + 1);
        fx.push(write(PROMPT));
      } else if (b === 0x7f || b === 0x08) {
        if (this.#line.length) {
          this.#line = this.#line.slice(0, -1);
          fx.push(write("\b \b"));
        }
      } else if (b === 0x15) { // Ctrl-U
        fx.push(write("\b \b".repeat(this.#line.length)));
        this.#line = "";
      } else if (b === 0x03) { // Ctrl-C: a fresh line (never a signal)
        this.#line = "";
        fx.push(write(`^C${CRLF}${PROMPT}`));
      } else if (b === 0x0c) { // Ctrl-L
        fx.push(write(`\x1b[H\x1b[2J${PROMPT}${this.#line}`));
      } else if (b >= 0x20 && b < 0x7f) {
        if (this.#line.length >= MAX_LINE) fx.push(write("\x07"));
        else {
          this.#line += String.fromCharCode(b);
          fx.push(write(String.fromCharCode(b)));
        }
      }
      // Anything else (Ctrl-D, Tab, bytes >= 0x80) is ignored.
    }
    return new Uint8Array(0);
  }

  #command(line: string, fx: MuxEffect[]): void {
    if (line === "") return;
    const [cmd, ...args] = line.split(/\s+/);
    const out = (s: string) => fx.push(write(s));
    switch (cmd) {
      case "help":
      case "h":
      case "?":
        return void out(helpText(this.#opts.debugShell));
      case "list":
      case "l":
      case "ls":
        if (args.length) return void out(`usage: list${CRLF}`);
        return void out(listText(this.#view.list()));
      case "enter":
      case "e": {
        const ref = args.length === 1 ? parseRef(args[0]) : null;
        if (!ref) return void out(`usage: enter ID (as list shows it, e.g. 3/0 or 3)${CRLF}`);
        const t = this.#view.list().find((s) => sameRef(s.ref, ref));
        if (!t) return void out(`no terminal ${refText(ref)} (see list)${CRLF}`);
        return this.#enter({ kind: "terminal", ref }, fx);
      }
      case "log":
      case "d": {
        const n = args.length === 0 ? DEFAULT_LOG_LINES : Number(args[0]);
        if (args.length > 1 || !Number.isInteger(n) || n < 1) {
          return void out(`usage: log [N]${CRLF}`);
        }
        return void out(logText(this.#view.logLines(), n));
      }
      case "size":
        return this.#sizeCommand(args, out);
      case "shell":
        if (!this.#opts.debugShell) {
          return void out(
            `no shell: the console is not a shell into the VM. A root shell exists only when${CRLF}` +
              `the VM boots with acond.debug_shell (measured: a verifier then sees a debug TD)${CRLF}`,
          );
        }
        return this.#enter({ kind: "shell" }, fx);
      default:
        out(`unknown command "${clean(cmd)}": type help${CRLF}`);
    }
  }

  #sizeCommand(args: string[], out: (s: string) => void): void {
    if (args.length === 0) {
      const con = this.#view.consoleSize();
      const now = this.#size();
      const how = this.#fixedSize
        ? "set with size"
        : con
        ? "the console's"
        : "the default: the console reports none; set it with size ROWSxCOLS";
      return void out(`${now.rows}x${now.cols} (${how})${CRLF}`);
    }
    if (args.length === 1 && args[0] === "auto") {
      this.#fixedSize = null;
      return void out(`following the console's size${CRLF}`);
    }
    const m = args.length === 1 ? /^(\d{1,4})x(\d{1,4})$/.exec(args[0]) : null;
    const rows = m ? Number(m[1]) : 0, cols = m ? Number(m[2]) : 0;
    if (!m || rows < 1 || cols < 1 || rows > 1000 || cols > 1000) {
      return void out(`usage: size [ROWSxCOLS|auto] (1..1000 each, e.g. size 50x160)${CRLF}`);
    }
    this.#fixedSize = { rows, cols };
    out(`size ${rows}x${cols}${CRLF}`);
  }

  #size(): Size {
    if (this.#fixedSize) return this.#fixedSize;
    const con = this.#view.consoleSize();
    return con && con.rows > 0 && con.cols > 0 ? con : { ...DEFAULT_SIZE };
  }

  #enter(target: Target, fx: MuxEffect[]): void {
    this.#entered = target;
    this.#hotkey.reset();
    const size = this.#size();
    this.#sentSize = size;
    fx.push(
      write(`[entering ${targetText(target)}; leave with ${HOTKEY_TEXT}]${CRLF}`),
      { kind: "mode", mode: "raw" },
      { kind: "attach", target, size },
    );
  }

  /** An announcement at the prompt, above the line being typed. */
  #notice(text: string): MuxEffect {
    return write(`\r\x1b[K${text}${CRLF}${PROMPT}${this.#line}`);
  }
}

function write(s: string | Uint8Array): MuxEffect {
  return { kind: "write", data: typeof s === "string" ? enc.encode(s) : s };
}

function sameTarget(a: Target, b: Target): boolean {
  if (a.kind === "shell" || b.kind === "shell") return a.kind === b.kind;
  return sameRef(a.ref, b.ref);
}

function targetText(t: Target): string {
  return t.kind === "shell" ? "the debug shell" : `terminal ${refText(t.ref)}`;
}

function clean(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "?").slice(0, 80);
}
