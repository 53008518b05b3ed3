/**
 * A deadline that moves often and fires rarely: the header deadline between a connection's
 * requests (api/conn.ts), the pause allowed in a body or an answer (api/h1_unary.ts, api/h2.ts).
 * One timer at a time, re-armed only when it fires before the deadline: moving the deadline costs
 * a clock read, not a clearTimeout and a setTimeout (a tenth of the CPU of an HTTP/1.1 call
 * answered by api/h1_unary.ts).
 */
export class Deadline {
  /** When it expires (ms since the epoch), or 0 while it is not running. */
  #at = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ms: number, private readonly onExpire: () => void) {}

  /** Runs from now (again): it expires `ms` from now unless cleared first. */
  start(): void {
    this.#at = Date.now() + this.ms;
    if (this.#timer === undefined) this.#wait(this.ms);
  }

  /** Not running until the next start(). */
  clear(): void {
    this.#at = 0;
  }

  /** Not running, and its timer gone. */
  stop(): void {
    this.#at = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Runs `p` under the deadline, started now and cleared when `p` settles. */
  async during<T>(p: Promise<T>): Promise<T> {
    this.start();
    try {
      return await p;
    } finally {
      this.clear();
    }
  }

  #wait(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#at === 0) return; // cleared: the next start() arms it again
      const left = this.#at - Date.now();
      if (left > 0) return this.#wait(left);
      this.#at = 0;
      this.onExpire();
    }, ms);
  }
}
