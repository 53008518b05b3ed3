/** Byte buffers that keep only the newest bytes. Pure. */

/** Keeps the last `cap` bytes written (Exec capture: the tail survives). */
export class TailBuffer {
  #chunks: Uint8Array[] = [];
  #size = 0;
  constructor(readonly cap: number) {}

  push(data: Uint8Array): void {
    if (this.cap === 0 || data.length === 0) return;
    if (data.length >= this.cap) {
      this.#chunks = [data.slice(data.length - this.cap)];
      this.#size = this.cap;
      return;
    }
    this.#chunks.push(data.slice());
    this.#size += data.length;
    while (this.#size > this.cap) {
      const first = this.#chunks[0];
      const excess = this.#size - this.cap;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#size -= first.length;
      } else {
        this.#chunks[0] = first.slice(excess);
        this.#size -= excess;
      }
    }
  }

  get size(): number {
    return this.#size;
  }

  bytes(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.#size);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

export interface LogChunk {
  fd: number;
  data: Uint8Array;
  timeMs: number;
  /** Position of the chunk in the stream (monotonic), for readers that follow. */
  seq: number;
}

/**
 * A per-container log: chunks of output of the listed fds, bounded by total bytes (the oldest
 * chunks are dropped), with followers woken on every push and at close.
 */
export class LogRing {
  #chunks: LogChunk[] = [];
  #bytes = 0;
  #seq = 0;
  #closed = false;
  #wakers = new Set<() => void>();
  constructor(readonly capBytes: number) {}

  push(fd: number, data: Uint8Array, timeMs = Date.now()): void {
    if (data.length === 0) return;
    const d = data.length > this.capBytes ? data.slice(data.length - this.capBytes) : data.slice();
    this.#chunks.push({ fd, data: d, timeMs, seq: this.#seq++ });
    this.#bytes += d.length;
    while (this.#bytes > this.capBytes) this.#bytes -= this.#chunks.shift()!.data.length;
    this.#wake();
  }

  /** A new run of the container starts writing (a restart re-opens the ring). */
  reopen(): void {
    this.#closed = false;
  }
  close(): void {
    this.#closed = true;
    this.#wake();
  }
  get closed(): boolean {
    return this.#closed;
  }
  get nextSeq(): number {
    return this.#seq;
  }

  /** Chunks with seq >= from still held. */
  since(from: number): LogChunk[] {
    return this.#chunks.filter((c) => c.seq >= from);
  }

  /** Readers waiting for output now (tests check that a cut stream leaves none). */
  get waiters(): number {
    return this.#wakers.size;
  }

  /** Wakes the readers without new output: the container's state changed (it exited). */
  stateChanged(): void {
    this.#wake();
  }

  /** Resolves at the next push or close, or when the signal aborts. */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#wakers.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#wakers.add(done);
      signal?.addEventListener("abort", done);
    });
  }

  #wake(): void {
    for (const w of [...this.#wakers]) w();
  }
}
