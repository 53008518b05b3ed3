/**
 * The batch buffers of one streamed upload, reused: a body is gathered into batches (./body.ts)
 * that the hash worker (./hasher.ts) and the extraction (../tar/reader.ts) both read, each at its
 * own pace. A batch goes back to the pool once both have released it, so an upload of any size
 * holds about MAX_QUEUED bytes of batches (table.ts) instead of leaving a fresh buffer per batch to
 * the garbage collector (the daemon's RSS grew by hundreds of MiB during one large upload, and
 * every fresh page was a page fault).
 */

export class BatchPool {
  readonly #free: SharedArrayBuffer[] = [];
  /** Buffers this pool made, and how many readers still hold each one lent. */
  readonly #ours = new WeakSet<SharedArrayBuffer>();
  readonly #holders = new Map<SharedArrayBuffer, number>();

  /** Batches of `size` bytes; at most `keep` free ones are kept. */
  constructor(readonly size: number, private readonly keep = 32) {}

  /** Free batches kept for reuse. */
  get free(): number {
    return this.#free.length;
  }

  /** Batches lent and not yet given back by every reader (0 once an upload's bytes are all read). */
  get lent(): number {
    return this.#holders.size;
  }

  /** An empty batch in shared memory (so the hash worker reads it where it is). */
  take(): Uint8Array<SharedArrayBuffer> {
    const b = this.#free.pop() ?? new SharedArrayBuffer(this.size);
    this.#ours.add(b);
    return new Uint8Array(b);
  }

  /**
   * `chunk` (a view of a batch from take(), filled) is now read by `holders` readers, each of which
   * calls release() once when done with it. A view of anything else is ignored.
   */
  lend(chunk: Uint8Array, holders: number): void {
    const b = chunk.buffer;
    if (!(b instanceof SharedArrayBuffer) || !this.#ours.has(b)) return;
    if (this.#holders.has(b)) throw new Error("BatchPool: batch lent twice");
    this.#holders.set(b, holders);
  }

  /** One reader is done with `chunk`; the last one gives its batch back. */
  release(chunk: Uint8Array): void {
    const b = chunk.buffer;
    if (!(b instanceof SharedArrayBuffer)) return;
    const n = this.#holders.get(b);
    if (n === undefined) return;
    if (n > 1) {
      this.#holders.set(b, n - 1);
      return;
    }
    this.#holders.delete(b);
    if (this.#free.length < this.keep) this.#free.push(b);
  }
}
