/**
 * A bounded byte queue on one circular buffer (pure): a terminal's scrollback, an attachment's
 * queue and a terminal's input. Pushing copies in; when more than `cap` bytes would be held the
 * oldest go (push says how many). The buffer starts small and grows up to `cap`, so an idle
 * queue costs little; past that nothing is allocated per push.
 */
export class ByteRing {
  #buf: Uint8Array<ArrayBuffer>;
  #start = 0;
  #size = 0;

  constructor(readonly cap: number, initial = 4096) {
    if (!(cap > 0)) throw new RangeError("ByteRing capacity must be > 0");
    this.#buf = new Uint8Array(Math.min(cap, initial));
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes that fit before the oldest would be dropped. */
  get room(): number {
    return this.cap - this.#size;
  }

  /** Appends `data`; returns how many of the oldest bytes (held or of `data`) were dropped. */
  push(data: Uint8Array): number {
    if (data.length === 0) return 0;
    let dropped = 0;
    if (data.length >= this.cap) {
      dropped = this.#size + data.length - this.cap;
      data = data.subarray(data.length - this.cap);
      this.#size = 0;
      this.#start = 0;
    }
    const need = this.#size + data.length;
    if (need > this.#buf.length && this.#buf.length < this.cap) {
      this.#grow(Math.min(this.cap, Math.max(need, this.#buf.length * 2)));
    }
    if (need > this.#buf.length) {
      const over = need - this.#buf.length;
      this.#advance(over);
      dropped += over;
    }
    const len = this.#buf.length;
    const end = (this.#start + this.#size) % len;
    const first = Math.min(data.length, len - end);
    this.#buf.set(data.subarray(0, first), end);
    if (first < data.length) this.#buf.set(data.subarray(first), 0);
    this.#size += data.length;
    return dropped;
  }

  /** The oldest bytes, contiguous, without removing them (up to the end of the buffer). */
  front(): Uint8Array<ArrayBuffer> {
    const n = Math.min(this.#size, this.#buf.length - this.#start);
    return this.#buf.subarray(this.#start, this.#start + n);
  }

  /** Removes the `n` oldest bytes. */
  consume(n: number): void {
    this.#advance(Math.min(n, this.#size));
  }

  /** Removes and returns (a copy of) up to `max` of the oldest bytes. */
  take(max = Infinity): Uint8Array<ArrayBuffer> {
    const out = this.#copy(Math.min(max, this.#size));
    this.#advance(out.length);
    return out;
  }

  /** A copy of everything held, oldest first. */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.#copy(this.#size);
  }

  clear(): void {
    this.#start = 0;
    this.#size = 0;
  }

  #advance(n: number): void {
    this.#size -= n;
    this.#start = this.#size === 0 ? 0 : (this.#start + n) % this.#buf.length;
  }

  #copy(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    const first = Math.min(n, this.#buf.length - this.#start);
    out.set(this.#buf.subarray(this.#start, this.#start + first));
    if (first < n) out.set(this.#buf.subarray(0, n - first), first);
    return out;
  }

  #grow(len: number): void {
    const next = new Uint8Array(len);
    next.set(this.#copy(this.#size));
    this.#buf = next;
    this.#start = 0;
  }
}
