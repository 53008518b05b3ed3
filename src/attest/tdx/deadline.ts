/**
 * Bounded waits on the TEE's quote providers (configfs-tsm, the legacy GET_QUOTE ioctl, vsock to
 * the host's QGS): each depends on the host, which may never answer. A call that takes longer
 * than its deadline fails with a clear error, so a request (and the state lock a Report holds)
 * is never held forever; while that call has not returned, the provider counts as stuck and new
 * calls fail at once instead of piling up blocked threads behind it.
 */
export class TeeTimeout extends Error {
  override name = "TeeTimeout";
}

export class Bounded {
  #stuckSince: number | null = null;

  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly now: () => number = Date.now,
  ) {}

  get stuck(): boolean {
    return this.#stuckSince !== null;
  }

  run<T>(f: () => Promise<T>): Promise<T> {
    if (this.#stuckSince !== null) {
      const s = Math.round((this.now() - this.#stuckSince) / 1000);
      return Promise.reject(
        new TeeTimeout(
          `${this.what}: still stuck on an earlier request (no answer for ${s} s); not asked again until it returns`,
        ),
      );
    }
    let p: Promise<T>;
    try {
      p = f();
    } catch (e) {
      return Promise.reject(e);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const since = this.now() - this.timeoutMs;
        this.#stuckSince = since;
        p.then(() => {}, () => {}).finally(() => {
          if (this.#stuckSince === since) this.#stuckSince = null;
        });
        reject(new TeeTimeout(`${this.what}: no answer within ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
    });
    return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
  }
}

/** Deadlines of the quote providers, in milliseconds. */
export interface TeeTimeouts {
  /** configfs-tsm: the whole exchange (the driver itself gives up after 30 s). */
  tsm: number;
  /** The legacy GET_QUOTE ioctl (the driver waits for the host). */
  ioctl: number;
  /** vsock to the host QGS, connect included. */
  qgs: number;
}

export const DEFAULT_TEE_TIMEOUTS: TeeTimeouts = { tsm: 35_000, ioctl: 35_000, qgs: 20_000 };
