/**
 * The terminal hub: the one owner of acond's ptys (interactive mode). It implements the front
 * ends' contract (hub.ts: list, attach, write, resize, changes) and the container code's port
 * (container/deps.ts `Terminals`: a pty for a process about to start).
 *
 * A terminal is one pty master, non-blocking, read through the poller whenever it has output:
 * - every read goes into a bounded scrollback (the newest `scrollbackBytes`) and into each
 *   attachment's bounded queue; a queue that is full loses its oldest bytes and counts them
 *   (`dropped`), so a client that reads slowly or not at all costs at most its queue;
 * - input goes through a bounded queue, written whenever the master takes it (EAGAIN: wait for
 *   writability); a full queue refuses the write (resource_exhausted), never waits;
 * - its life: listed from `started` on; it has exited once its process has exited AND its output
 *   has ended (the master reads EIO when no slave is left open; if something still holds the
 *   slave `drainMs` after the exit, the master is closed). Every attachment then gets a last chunk
 *   with the exit status and the `exited` change is announced. The terminal is removed (the
 *   `removed` change; no new attachments, no longer listed) as soon as an attachment has read
 *   that last chunk and none is open any more, and at the latest `lingerMs` after the exit (an
 *   exited terminal nobody watched can still be attached to until then: scrollback and exit),
 *   or earlier when a new terminal needs its place (oldest exit first; only running terminals
 *   count against `maxTerminals`).
 *   A container's own terminal (session 0) is replaced by its next run's.
 * Nothing here blocks: reads, writes and the size change are non-blocking calls on the master.
 */
import { AcondError } from "../errors.ts";
import type { FdWatcher } from "../proc/poller.ts";
import { EPOLL, type Sys } from "../sys/mod.ts";
import { log } from "../util/log.ts";
import { ByteRing } from "./bytering.ts";
import type {
  Attachment,
  ExitStatus,
  TerminalChange,
  TerminalChunk,
  TerminalHub,
  TerminalRef,
  TerminalSummary,
} from "./hub.ts";

export interface TerminalLimits {
  /** Output kept per terminal, replayed first on attach. */
  scrollbackBytes: number;
  /** Output queued per attachment before its oldest bytes are dropped. */
  attachmentBytes: number;
  /** Input queued per terminal before writes are refused. */
  inputBytes: number;
  /** Terminals held at once (running or lingering after exit). */
  maxTerminals: number;
  /** Attachments open at once, per terminal and in all. */
  maxAttachments: number;
  maxAttachmentsTotal: number;
  /** Largest chunk an attachment yields. */
  chunkBytes: number;
  /** After the process's exit: how long its output may still come before the master is closed. */
  drainMs: number;
  /** After the exit is announced: how long the terminal stays at most. */
  lingerMs: number;
  /** Window size a new terminal starts with. */
  rows: number;
  cols: number;
}

export const TERMINAL_LIMITS: TerminalLimits = {
  scrollbackBytes: 64 * 1024,
  attachmentBytes: 128 * 1024,
  inputBytes: 128 * 1024,
  maxTerminals: 128,
  maxAttachments: 8,
  maxAttachmentsTotal: 64,
  chunkBytes: 64 * 1024,
  drainMs: 2000,
  lingerMs: 30_000,
  rows: 24,
  cols: 80,
};

/** Largest window dimension accepted (the API's bound; the kernel's is 65535). */
export const MAX_WINDOW = 10000;

export type TerminalSys = Pick<
  Sys,
  "openPty" | "setNonblock" | "close" | "readSome" | "writeSome" | "resizePty"
>;

export interface TerminalsDeps {
  sys: TerminalSys;
  fds: FdWatcher;
  limits?: Partial<TerminalLimits>;
}

/** A timer that does not keep the process alive (dev mode ends when its work does). */
function later(fn: () => void, ms: number): number {
  const t = setTimeout(fn, ms) as unknown as number;
  Deno.unrefTimer(t);
  return t;
}

const key = (r: TerminalRef) => `${r.containerId}/${r.session}`;
const nameOf = (r: TerminalRef) =>
  r.session === 0
    ? `container ${r.containerId}'s terminal`
    : `terminal ${r.containerId}/${r.session}`;

/** One pty master and everything the hub keeps for it. */
class Terminal {
  master: number;
  pid = 0;
  rows: number;
  cols: number;
  readonly scrollback: ByteRing;
  readonly input: ByteRing;
  readonly attachments = new Set<Att>();
  /** The output has ended: the master is closed. */
  ended = false;
  exit: ExitStatus | null = null;
  /** The exit has been announced (last chunks queued, `exited` emitted). */
  finished = false;
  /** An attachment has read the last chunk. */
  delivered = false;
  /** Listed in the hub's table (false before `started` and after removal or replacement). */
  listed = false;
  watchingOut = false;
  timer: number | undefined;

  constructor(
    readonly ref: TerminalRef,
    readonly imageId: string,
    readonly command: string,
    readonly slaveName: string,
    master: number,
    limits: TerminalLimits,
  ) {
    this.master = master;
    this.rows = limits.rows;
    this.cols = limits.cols;
    this.scrollback = new ByteRing(limits.scrollbackBytes);
    this.input = new ByteRing(limits.inputBytes, 1024);
  }
}

/** One reader of a terminal: a bounded queue that drops its oldest bytes, then the exit. */
class Att implements Attachment {
  readonly #ring: ByteRing;
  #dropped = 0;
  #exit: ExitStatus | null = null;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(
    readonly terminal: Terminal,
    cap: number,
    readonly chunkBytes: number,
    readonly onClose: (a: Att) => void,
    readonly onDelivered: (a: Att) => void,
  ) {
    this.#ring = new ByteRing(cap);
  }

  push(data: Uint8Array): void {
    if (this.#closed) return;
    this.#dropped += this.#ring.push(data);
    this.#kick();
  }

  finish(exit: ExitStatus): void {
    this.#exit = exit;
    this.#kick();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring.clear();
    this.#kick();
    this.onClose(this);
  }

  #kick(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TerminalChunk> {
    try {
      while (!this.#closed) {
        if (this.#ring.size === 0 && !this.#exit) {
          await new Promise<void>((r) => (this.#wake = r));
          continue;
        }
        const data = this.#ring.take(this.chunkBytes);
        const dropped = this.#dropped;
        this.#dropped = 0;
        if (this.#exit && this.#ring.size === 0) {
          this.onDelivered(this);
          yield { data, dropped, exit: this.#exit };
          return;
        }
        yield { data, dropped };
      }
    } finally {
      this.close();
    }
  }
}

export class Terminals implements TerminalHub {
  readonly #sys: TerminalSys;
  readonly #fds: FdWatcher;
  readonly #limits: TerminalLimits;
  readonly #table = new Map<string, Terminal>();
  readonly #listeners = new Set<(c: TerminalChange) => void>();
  /** Terminals made and not yet started or abandoned (they count against maxTerminals). */
  #pending = 0;
  /** Exited terminals still listed, oldest exit first (the first to go when room is needed). */
  readonly #lingering = new Set<Terminal>();
  #attachments = 0;
  #nextSession = 1;
  /** The one read buffer (callbacks run one at a time; rings copy out of it). */
  readonly #buf: Uint8Array<ArrayBuffer>;

  constructor(deps: TerminalsDeps) {
    this.#sys = deps.sys;
    this.#fds = deps.fds;
    this.#limits = { ...TERMINAL_LIMITS, ...deps.limits };
    this.#buf = new Uint8Array(64 * 1024);
  }

  // ---- the container code's port (container/deps.ts Terminals) ----

  open(t: { containerId: number; own: boolean; imageId: string; command: string }) {
    const max = this.#limits.maxTerminals;
    if (this.#table.size - this.#lingering.size + this.#pending >= max) {
      throw new AcondError(
        "resource_exhausted",
        `Too many terminals (${max} running): wait for one to exit`,
      );
    }
    // Room is made by removing the terminals that exited longest ago.
    for (const old of this.#lingering) {
      if (this.#table.size + this.#pending < max) break;
      this.#unlist(old);
    }
    const sys = this.#sys;
    const pty = sys.openPty();
    try {
      sys.setNonblock(pty.master);
      sys.resizePty(pty.master, this.#limits.rows, this.#limits.cols);
    } catch (e) {
      sys.close(pty.master);
      sys.close(pty.slave);
      throw e;
    }
    const ref = { containerId: t.containerId, session: t.own ? 0 : this.#nextSession++ };
    const term = new Terminal(ref, t.imageId, t.command, pty.name, pty.master, this.#limits);
    this.#pending++;
    let settled = false;
    const settle = () => {
      if (settled) throw new Error("pending pty settled twice");
      settled = true;
      this.#pending--;
      sys.close(pty.slave); // only the child holds the slave now: its exit makes the master EIO
    };
    return {
      session: ref.session,
      slave: pty.slave,
      name: pty.name,
      started: (pid: number, exit: Promise<ExitStatus>) => {
        settle();
        term.pid = pid;
        this.#register(term);
        exit.then(
          (s) => this.#exited(term, s),
          (e) => {
            log.error(`${nameOf(ref)}: exit status: ${(e as Error).message}`);
            this.#exited(term, { wstatus: 0, signal: false });
          },
        );
      },
      abandon: () => {
        settle();
        sys.close(pty.master);
      },
    };
  }

  sessions(containerId: number) {
    return [...this.#table.values()]
      .filter((t) => t.ref.containerId === containerId && t.ref.session > 0 && !t.exit)
      .map((t) => ({ session: t.ref.session, pid: t.pid, pty: t.slaveName, command: t.command }));
  }

  // ---- the front ends' contract (hub.ts) ----

  list(): TerminalSummary[] {
    return [...this.#table.values()]
      .sort((a, b) => a.ref.containerId - b.ref.containerId || a.ref.session - b.ref.session)
      .map((t) => ({
        ref: { ...t.ref },
        imageId: t.imageId,
        command: t.command,
        pid: t.pid,
        exited: t.finished,
        attached: t.attachments.size,
        rows: t.rows,
        cols: t.cols,
      }));
  }

  attach(ref: TerminalRef, opts: { scrollback?: boolean } = {}): Attachment {
    const t = this.#get(ref);
    if (t.attachments.size >= this.#limits.maxAttachments) {
      throw new AcondError(
        "resource_exhausted",
        `Too many attachments to ${nameOf(ref)} (${this.#limits.maxAttachments})`,
      );
    }
    if (this.#attachments >= this.#limits.maxAttachmentsTotal) {
      throw new AcondError(
        "resource_exhausted",
        `Too many terminal attachments (${this.#limits.maxAttachmentsTotal})`,
      );
    }
    const a = new Att(
      t,
      this.#limits.attachmentBytes,
      this.#limits.chunkBytes,
      (x) => this.#detach(x),
      () => (t.delivered = true),
    );
    t.attachments.add(a);
    this.#attachments++;
    if (opts.scrollback !== false) a.push(t.scrollback.bytes());
    if (t.finished) a.finish(t.exit!);
    return a;
  }

  write(ref: TerminalRef, data: Uint8Array): void {
    const t = this.#get(ref);
    if (t.ended || t.exit) throw new AcondError("failed_precondition", `${nameOf(ref)} has exited`);
    if (data.length > t.input.room) {
      throw new AcondError(
        "resource_exhausted",
        `${nameOf(ref)}: its input queue is full (${t.input.size} bytes not yet read by its ` +
          `process); write again once it reads`,
      );
    }
    t.input.push(data);
    this.#flush(t);
  }

  resize(ref: TerminalRef, rows: number, cols: number): void {
    const t = this.#get(ref);
    const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_WINDOW;
    if (!ok(rows) || !ok(cols)) {
      throw new AcondError("invalid_argument", `rows and cols must be 1..${MAX_WINDOW}`);
    }
    if (t.ended) throw new AcondError("failed_precondition", `${nameOf(ref)} has exited`);
    this.#sys.resizePty(t.master, rows, cols);
    t.rows = rows;
    t.cols = cols;
  }

  onChange(listener: (change: TerminalChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Attachments open now (tests: a vanished client leaves none). */
  get attachedCount(): number {
    return this.#attachments;
  }

  // ---- inside ----

  #get(ref: TerminalRef): Terminal {
    const t = this.#table.get(key(ref));
    if (!t) throw new AcondError("not_found", `No terminal ${ref.containerId}/${ref.session}`);
    return t;
  }

  #emit(c: TerminalChange): void {
    for (const l of [...this.#listeners]) {
      try {
        l(c);
      } catch (e) {
        log.error(`terminal change listener: ${(e as Error).message}`);
      }
    }
  }

  #register(t: Terminal): void {
    const old = this.#table.get(key(t.ref));
    if (old) this.#unlist(old); // the previous run's terminal of the container
    this.#table.set(key(t.ref), t);
    t.listed = true;
    this.#watch(t);
    this.#emit({ kind: "added", ref: { ...t.ref } });
  }

  #watch(t: Terminal): void {
    if (t.ended) return;
    const out = t.input.size > 0;
    this.#fds.watch(t.master, EPOLL.IN | (out ? EPOLL.OUT : 0), (ev) => this.#ready(t, ev));
    t.watchingOut = out;
  }

  #ready(t: Terminal, ev: number): void {
    if (t.ended) return;
    if (ev & EPOLL.OUT) this.#flush(t);
    if (ev & (EPOLL.IN | EPOLL.HUP | EPOLL.ERR)) this.#read(t);
  }

  #read(t: Terminal): void {
    // At most 64 reads per readiness: other fds get their turn; level-triggered, so it comes back.
    for (let i = 0; i < 64 && !t.ended; i++) {
      let n: number | null;
      try {
        n = this.#sys.readSome(t.master, this.#buf);
      } catch {
        n = 0; // EIO: no slave is open any more
      }
      if (n === null) return;
      if (n === 0) return this.#endOutput(t);
      const chunk = this.#buf.subarray(0, n);
      t.scrollback.push(chunk);
      for (const a of t.attachments) a.push(chunk);
    }
  }

  #flush(t: Terminal): void {
    while (t.input.size > 0 && !t.ended) {
      let n: number | null;
      try {
        n = this.#sys.writeSome(t.master, t.input.front());
      } catch {
        t.input.clear(); // EIO: nothing reads this terminal's input any more
        break;
      }
      if (n === null) break;
      t.input.consume(n);
    }
    if (!t.ended && t.watchingOut !== t.input.size > 0) this.#watch(t);
  }

  #endOutput(t: Terminal): void {
    if (t.ended) return;
    t.ended = true;
    this.#fds.unwatch(t.master);
    this.#sys.close(t.master);
    t.master = -1;
    t.input.clear();
    if (t.exit) this.#finish(t);
  }

  #exited(t: Terminal, s: ExitStatus): void {
    t.exit = s;
    if (t.ended) return this.#finish(t);
    // Its output may still be on its way; something else may hold the slave forever.
    clearTimeout(t.timer);
    t.timer = later(() => this.#endOutput(t), this.#limits.drainMs);
  }

  #finish(t: Terminal): void {
    clearTimeout(t.timer);
    t.finished = true;
    if (t.listed) this.#lingering.add(t);
    for (const a of t.attachments) a.finish(t.exit!);
    if (t.listed) this.#emit({ kind: "exited", ref: { ...t.ref }, exit: { ...t.exit! } });
    t.timer = later(() => this.#unlist(t), this.#limits.lingerMs);
  }

  #detach(a: Att): void {
    const t = a.terminal;
    if (!t.attachments.delete(a)) return;
    this.#attachments--;
    if (t.finished && t.delivered && t.attachments.size === 0) this.#unlist(t);
  }

  /** No longer listed nor attachable (removed, or replaced by the container's next run). */
  #unlist(t: Terminal): void {
    if (!t.listed) return;
    t.listed = false;
    this.#lingering.delete(t);
    if (t.finished) clearTimeout(t.timer);
    if (this.#table.get(key(t.ref)) === t) this.#table.delete(key(t.ref));
    this.#emit({ kind: "removed", ref: { ...t.ref } });
  }
}
