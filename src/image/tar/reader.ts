/**
 * Where the archive bytes come from: the whole blob in memory (unary AddBlob) or chunks pushed as
 * they arrive (chunked and streamed uploads), pulled by a concurrent extraction. A StreamReader
 * hands every pushed chunk to its sinks (the hashers) at once, so hashing and extraction are one
 * pass over the bytes. ./entries.ts turns the bytes into entries.
 */
import { setImmediate } from "node:timers";

/** Sequential access to the archive bytes; views are valid until the next call. */
export interface TarReader {
  /** Exactly n bytes (n ≤ maxTake), or fewer only at the end of the input. */
  take(n: number): Promise<Uint8Array> | Uint8Array;
  /** Between 1 and n bytes, or an empty view at the end of the input. */
  takeUpTo(n: number): Promise<Uint8Array> | Uint8Array;
  /** The largest n take() accepts. */
  readonly maxTake: number;
  /** Bytes handed out so far. */
  readonly position: number;
  /** Consumes (and hashes) whatever is left after the end-of-archive marker. */
  drain(): Promise<void> | void;
}

/** Anything that takes the stream's bytes in order (a node:crypto Hash, a WorkerHasher). */
export interface ChunkSink {
  update(chunk: Uint8Array): unknown;
}

/** Lets other requests run during a long extraction (we are PID 1's only thread). */
export function yieldToLoop(): Promise<void> {
  // setImmediate runs right after pending I/O callbacks, without setTimeout's clamping.
  return new Promise((r) => setImmediate(r));
}

/**
 * Both readers refuse a count that is not a whole number ≥ 0 alike (the parser refuses such sizes
 * first: format.ts), so the two upload paths can never disagree on the same bytes.
 */
function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`tar reader: bad byte count ${n}`);
}

/** The whole blob already in memory (unary AddBlob): views, no copies. */
export class MemoryReader implements TarReader {
  #pos = 0;
  constructor(private readonly data: Uint8Array) {}
  get maxTake(): number {
    return Number.MAX_SAFE_INTEGER;
  }
  get position(): number {
    return this.#pos;
  }
  take(n: number): Uint8Array {
    checkCount(n);
    const v = this.data.subarray(this.#pos, this.#pos + n);
    this.#pos += v.length;
    return v;
  }
  takeUpTo(n: number): Uint8Array {
    return this.take(n);
  }
  drain(): void {
    this.#pos = this.data.length;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Bytes pushed as they arrive (chunked upload), pulled by a concurrent extraction. Every pushed
 * chunk goes to the hashers right away (in order, including whatever follows the end-of-archive
 * marker), so hashing and extraction are one pass over the bytes that overlaps with the client
 * sending the next chunk. push() callers wait in waitForSpace() (bounded memory).
 */
export class StreamReader implements TarReader {
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #cur: Uint8Array = EMPTY;
  /** The pushed chunk #cur is a view of (EMPTY before the first). */
  #curChunk: Uint8Array = EMPTY;
  #ended = false;
  #error: Error | null = null;
  #pos = 0;
  #wakeReader: (() => void) | null = null;
  #wakeWriters: (() => void)[] = [];
  readonly maxTake = 4 << 20;

  /**
   * `done`, when given, is called with every pushed chunk the extraction is finished with (after
   * which no view of it is handed out, and the views handed out are no longer used: they are valid
   * until the next call), so that its buffer may be reused.
   */
  constructor(
    private readonly hashers: ChunkSink[],
    private readonly done?: (chunk: Uint8Array) => void,
  ) {}

  get position(): number {
    return this.#pos;
  }
  /** Bytes pushed that the extraction has not started on (plus at most one current chunk). */
  get queued(): number {
    return this.#queued;
  }

  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error("push after end");
    if (chunk.length === 0) return;
    for (const h of this.hashers) h.update(chunk);
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#wake();
  }
  end(): void {
    this.#ended = true;
    this.#wake();
  }
  /** Makes the extraction fail (discarded upload). */
  abort(e: Error): void {
    this.#error = e;
    this.#ended = true;
    this.#wake();
    this.#releaseWriters();
  }
  /** Resolves once at most `limit` bytes are waiting (or the stream is aborted). */
  async waitForSpace(limit: number): Promise<void> {
    while (this.queued > limit && this.#error === null) {
      await new Promise<void>((r) => this.#wakeWriters.push(r));
    }
  }

  #wake(): void {
    const w = this.#wakeReader;
    this.#wakeReader = null;
    w?.();
  }
  #releaseWriters(): void {
    const ws = this.#wakeWriters;
    this.#wakeWriters = [];
    for (const w of ws) w();
  }

  /** Makes the next chunk current; false at the end of the input. */
  async #next(): Promise<boolean> {
    this.#finishChunk();
    for (;;) {
      if (this.#error) throw this.#error;
      const c = this.#queue.shift();
      if (c) {
        this.#queued -= c.length;
        this.#cur = c;
        this.#curChunk = c;
        this.#releaseWriters();
        // Let the event loop answer the WriteBlob that brought this chunk before we chew on it.
        await yieldToLoop();
        return true;
      }
      if (this.#ended) return false;
      this.#releaseWriters();
      await new Promise<void>((r) => (this.#wakeReader = r));
    }
  }

  /** The current chunk is used up: it goes back (see the constructor). */
  #finishChunk(): void {
    const c = this.#curChunk;
    if (c === EMPTY) return;
    this.#curChunk = EMPTY;
    this.#cur = EMPTY;
    this.done?.(c);
  }

  async takeUpTo(n: number): Promise<Uint8Array> {
    checkCount(n);
    if (n === 0) return EMPTY;
    if (this.#cur.length === 0 && !(await this.#next())) return EMPTY;
    const v = this.#cur.subarray(0, Math.min(n, this.#cur.length));
    this.#cur = this.#cur.subarray(v.length);
    this.#pos += v.length;
    return v;
  }

  async take(n: number): Promise<Uint8Array> {
    checkCount(n);
    if (this.#cur.length >= n) return await this.takeUpTo(n);
    // Spans chunks: copy into one buffer (headers and files ≤ maxTake only).
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const v = await this.takeUpTo(n - got);
      if (v.length === 0) return out.subarray(0, got);
      out.set(v, got);
      got += v.length;
    }
    return out;
  }

  async drain(): Promise<void> {
    while ((await this.takeUpTo(Number.MAX_SAFE_INTEGER)).length > 0) { /* already hashed */ }
  }
}
