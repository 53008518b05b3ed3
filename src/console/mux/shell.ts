/**
 * The console's debug shell (acond.debug_shell only): the VM's /bin/sh as root, in acond's own
 * namespaces, on a pty of its own (not one of the hub's terminals: it belongs to no container and
 * no API client can reach it). Started on the first `shell`, kept when the console leaves it
 * (re-entering shows its recent output), gone when it exits. Output is read through the poller;
 * input goes to the non-blocking master (what the pty does not take now is lost, never waited
 * for).
 */
import type { Attachment, ExitStatus, TerminalChunk } from "../hub.ts";
import type { FdWatcher } from "../../proc/poller.ts";
import { drainFd } from "../../proc/fdio.ts";
import type { Sys } from "../../sys/mod.ts";
import type { ShellTerminal } from "./driver.ts";
import type { Size } from "./machine.ts";

export interface ShellDeps {
  sys: Pick<Sys, "openPty" | "setNonblock" | "close" | "readSome" | "writeSome">;
  fds: FdWatcher;
  /** Starts the shell with the pty slave as stdio and controlling terminal; its exit status. */
  spawn(
    slave: number,
  ): Promise<{ pid: number; exit: Promise<{ code: number | null; signal: number | null }> }>;
  /** TIOCSWINSZ on the master. */
  resizePty(master: number, rows: number, cols: number): void;
}

/** Output kept for a re-enter. */
const KEEP = 16 * 1024;
/** Output queued for the attachment at most (the console's own queue bounds the rest). */
const MAX_PENDING = 256 * 1024;

interface Running {
  master: number;
  kept: Uint8Array[];
  keptBytes: number;
  reader: ShellReader | null;
  exit: ExitStatus | null;
  ended: boolean;
}

export class DebugShell implements ShellTerminal {
  readonly #deps: ShellDeps;
  #run: Running | null = null;

  constructor(deps: ShellDeps) {
    this.#deps = deps;
  }

  async attach(size: Size): Promise<Attachment> {
    const run = this.#run ?? await this.#start(size);
    this.#resizeRun(run, size);
    run.reader?.close();
    const reader = new ShellReader(() => {
      if (run.reader === reader) run.reader = null;
    });
    const kept = concat(run.kept, run.keptBytes);
    if (kept.length) reader.push({ data: kept, dropped: 0 });
    run.reader = reader;
    if (run.ended) reader.push({ data: new Uint8Array(0), dropped: 0, exit: run.exit! });
    return reader;
  }

  write(data: Uint8Array): void {
    const run = this.#run;
    if (!run || run.ended) return;
    try {
      this.#deps.sys.writeSome(run.master, data.slice());
    } catch { /* the shell is going away; its exit comes through the reader */ }
  }

  resize(size: Size): void {
    if (this.#run) this.#resizeRun(this.#run, size);
  }

  #resizeRun(run: Running, size: Size): void {
    if (run.ended) return;
    try {
      this.#deps.resizePty(run.master, size.rows, size.cols);
    } catch { /* not fatal: the shell keeps its size */ }
  }

  async #start(size: Size): Promise<Running> {
    const { sys } = this.#deps;
    const pty = sys.openPty();
    let proc;
    try {
      sys.setNonblock(pty.master);
      try {
        this.#deps.resizePty(pty.master, size.rows, size.cols);
      } catch { /* default size */ }
      proc = await this.#deps.spawn(pty.slave);
    } catch (e) {
      sys.close(pty.master);
      throw e;
    } finally {
      sys.close(pty.slave); // the shell holds it: its exit makes the master read EIO
    }
    const run: Running = {
      master: pty.master,
      kept: [],
      keptBytes: 0,
      reader: null,
      exit: null,
      ended: false,
    };
    this.#run = run;
    let status: ExitStatus | null = null;
    let eof = false;
    const finish = () => {
      if (!eof || !status || run.ended) return;
      run.ended = true;
      run.exit = status;
      if (this.#run === run) this.#run = null;
      run.reader?.push({ data: new Uint8Array(0), dropped: 0, exit: status });
    };
    drainFd(sys, this.#deps.fds, pty.master, 4096, (chunk) => {
      run.kept.push(chunk.slice());
      run.keptBytes += chunk.length;
      while (run.keptBytes - run.kept[0].length >= KEEP) run.keptBytes -= run.kept.shift()!.length;
      run.reader?.push({ data: chunk.slice(), dropped: 0 });
    }, () => {
      eof = true;
      finish();
    });
    proc.exit.then((s) => {
      status = s.signal !== null
        ? { wstatus: s.signal, signal: true }
        : { wstatus: s.code ?? 0, signal: false };
      finish();
    });
    return run;
  }
}

/** One reader of the shell's output: a bounded queue, ended by an exit chunk or close(). */
class ShellReader implements Attachment {
  #queue: TerminalChunk[] = [];
  #bytes = 0;
  #dropped = 0;
  #wake: (() => void) | null = null;
  #closed = false;
  readonly #onClose: () => void;

  constructor(onClose: () => void) {
    this.#onClose = onClose;
  }

  push(c: TerminalChunk): void {
    if (this.#closed) return;
    this.#queue.push(c);
    this.#bytes += c.data.length;
    while (this.#bytes > MAX_PENDING && this.#queue.length > 1) {
      const old = this.#queue.shift()!;
      this.#bytes -= old.data.length;
      this.#dropped += old.data.length;
    }
    this.#wake?.();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TerminalChunk> {
    while (!this.#closed) {
      const c = this.#queue.shift();
      if (!c) {
        await new Promise<void>((r) => (this.#wake = r));
        this.#wake = null;
        continue;
      }
      this.#bytes -= c.data.length;
      yield { ...c, dropped: c.dropped + this.#dropped };
      this.#dropped = 0;
      if (c.exit) return;
    }
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
