/**
 * The console device under the multiplexer: one non-blocking descriptor of the terminal (its own
 * open file description, so acond's stdio keeps its flags), input through the poller, output
 * through a bounded queue. A stalled serial line loses console output (the oldest queued bytes,
 * counted), it never blocks acond. The terminal's settings are saved on open and restored on
 * close.
 */
import type { FdWatcher } from "../../proc/poller.ts";
import { EPOLL } from "../../sys/flags.ts";
import type { TtyState } from "../../sys/tty.ts";
import type { Size } from "./machine.ts";

/** What the device needs of the kernel (real: src/sys/; tests may fake it). */
export interface DeviceSys {
  openFd(path: string, flags: number): number;
  close(fd: number): void;
  readSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null;
  writeSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null;
  ttySave(fd: number): TtyState;
  ttyRestore(fd: number, st: TtyState): void;
  ttyRaw(fd: number, base: TtyState, outputProcessing: boolean): void;
  ttyWinsize(fd: number): Size | null;
}

/** open(2): O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC (never our controlling terminal). */
const OPEN_FLAGS = 0o2 | 0o400 | 0o4000 | 0o2000000;
/** Console output queued at most; beyond it the oldest is dropped. */
export const MAX_QUEUED = 64 * 1024;

export class ConsoleDevice {
  readonly path: string;
  readonly #sys: DeviceSys;
  readonly #fds: FdWatcher;
  readonly #fd: number;
  readonly #saved: TtyState;
  readonly #onInput: (data: Uint8Array) => void;
  readonly #onGone: (why: string) => void;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #dropped = 0;
  #closed = false;
  #readBuf = new Uint8Array(4096);

  /** Opens the terminal at `path`; throws when it cannot be opened or is not a terminal. */
  constructor(
    path: string,
    sys: DeviceSys,
    fds: FdWatcher,
    onInput: (data: Uint8Array) => void,
    onGone: (why: string) => void,
  ) {
    this.path = path;
    this.#sys = sys;
    this.#fds = fds;
    this.#onInput = onInput;
    this.#onGone = onGone;
    this.#fd = sys.openFd(path, OPEN_FLAGS);
    try {
      this.#saved = sys.ttySave(this.#fd);
    } catch (e) {
      sys.close(this.#fd);
      throw e;
    }
    this.#watch();
  }

  /** Bytes lost so far because the console did not take them. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Bytes waiting for the console. */
  get queued(): number {
    return this.#queued;
  }

  /** `line`: raw input, output processing on (the prompt); `raw`: nothing processed. */
  setMode(mode: "line" | "raw"): void {
    if (this.#closed) return;
    this.#sys.ttyRaw(this.#fd, this.#saved, mode === "line");
  }

  size(): Size | null {
    if (this.#closed) return null;
    try {
      return this.#sys.ttyWinsize(this.#fd);
    } catch {
      return null;
    }
  }

  write(data: Uint8Array): void {
    if (this.#closed || data.length === 0) return;
    if (this.#queue.length === 0) {
      const n = this.#writeNow(data);
      if (n === data.length) return;
      data = data.subarray(n);
    }
    this.#queue.push(data.slice());
    this.#queued += data.length;
    while (this.#queued > MAX_QUEUED) {
      const over = this.#queued - MAX_QUEUED;
      const head = this.#queue[0];
      if (head.length <= over) {
        this.#queue.shift();
        this.#queued -= head.length;
        this.#dropped += head.length;
      } else {
        this.#queue[0] = head.subarray(over);
        this.#queued -= over;
        this.#dropped += over;
      }
    }
    this.#watch();
  }

  /** Restores the terminal's settings and closes it; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fds.unwatch(this.#fd);
    try {
      this.#sys.ttyRestore(this.#fd, this.#saved);
    } catch { /* the terminal is gone */ }
    this.#sys.close(this.#fd);
    this.#queue = [];
    this.#queued = 0;
  }

  /** Writes what the console takes now: the bytes written (0 when it would block). */
  #writeNow(data: Uint8Array): number {
    let off = 0;
    while (off < data.length) {
      let n: number | null;
      try {
        n = this.#sys.writeSome(this.#fd, data.subarray(off) as Uint8Array<ArrayBuffer>);
      } catch (e) {
        this.#gone(`write: ${(e as Error).message}`);
        return data.length;
      }
      if (n === null || n === 0) break;
      off += n;
    }
    return off;
  }

  #watch(): void {
    if (this.#closed) return;
    const events = EPOLL.IN | (this.#queue.length ? EPOLL.OUT : 0);
    this.#fds.watch(this.#fd, events, (ev) => this.#ready(ev));
  }

  #ready(ev: number): void {
    if (this.#closed) return;
    if (ev & EPOLL.OUT) this.#flush();
    if (ev & (EPOLL.IN | EPOLL.HUP | EPOLL.ERR)) this.#read(ev);
  }

  #flush(): void {
    while (this.#queue.length && !this.#closed) {
      const head = this.#queue[0];
      const n = this.#writeNow(head);
      this.#queued -= n;
      if (n < head.length) {
        this.#queue[0] = head.subarray(n);
        return;
      }
      this.#queue.shift();
    }
    this.#watch(); // nothing left: stop asking for EPOLLOUT
  }

  #read(ev: number): void {
    for (;;) {
      let n: number | null;
      try {
        n = this.#sys.readSome(this.#fd, this.#readBuf);
      } catch (e) {
        return this.#gone(`read: ${(e as Error).message}`);
      }
      if (n === null) {
        // Level-triggered: a hang-up with nothing to read would wake us forever.
        if (ev & (EPOLL.HUP | EPOLL.ERR)) this.#gone("hang-up");
        return;
      }
      if (n === 0) return this.#gone("end of input");
      this.#onInput(this.#readBuf.slice(0, n));
      if (this.#closed) return;
    }
  }

  #gone(why: string): void {
    if (this.#closed) return;
    this.close();
    this.#onGone(why);
  }
}
