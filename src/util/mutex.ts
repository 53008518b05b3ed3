/** A FIFO async mutex: state-changing operations run one at a time, in arrival order. */
import { settlesWithin } from "./timeout.ts";

export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /**
   * Runs `fn` once every earlier caller is done. With `wait`, gives up after `wait.ms` of
   * waiting for its turn (throwing `wait.error()`, having run nothing); its place in the queue
   * then passes on as soon as its turn comes, so nobody behind it waits longer.
   */
  async run<T>(
    fn: () => Promise<T> | T,
    wait?: { ms: number; error: () => Error },
  ): Promise<T> {
    const prev = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((r) => (release = r));
    if (wait && !(await settlesWithin(prev, wait.ms))) {
      prev.then(release);
      throw wait.error();
    }
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
