/**
 * The process's descriptors, shared by every listener of a daemon: a share of them is always
 * kept free, so that reaping, container starts, the container socket and the next accept still
 * work when clients hold every connection they may (api/conn_limits.ts asks before admitting).
 */
/** The soft RLIMIT_NOFILE from /proc/self/limits; null when unknown. */
export function openFileLimit(limits = "/proc/self/limits"): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(Deno.readTextFileSync(limits));
    if (!m || m[1] === "unlimited") return null;
    return Number(m[1]);
  } catch {
    return null;
  }
}

function openFds(): number {
  let n = 0;
  try {
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  } catch {
    return 0; // no /proc: the limit cannot be watched, connection caps still apply
  }
  return n;
}

/**
 * The process's descriptors: a connection is refused when fewer than `reserve` would be left
 * (a quarter of the limit, between 16 and 256). Shared by every listener of a daemon. The limit
 * is read again at most once a second (prlimit can change it under a running daemon).
 */
export class DescriptorBudget {
  #limit: number | null = null;
  #readAt = -Infinity;
  constructor(private readonly readLimit: () => number | null = openFileLimit) {}

  get limit(): number | null {
    const now = performance.now();
    if (now - this.#readAt > 1000) {
      this.#limit = this.readLimit();
      this.#readAt = now;
    }
    return this.#limit;
  }

  get reserve(): number {
    const l = this.limit;
    return l === null ? 0 : Math.min(256, Math.max(16, Math.floor(l / 4)));
  }

  /** Whether one more connection, holding `fds` descriptors, fits (`releasing`: open
   * descriptors already on their way to being closed). */
  roomForOne(releasing = 0, fds = 1): boolean {
    const l = this.limit;
    if (l === null) return true;
    return openFds() - releasing + fds <= l - this.reserve;
  }

  /** The cap a listener gets at this limit: at most a third of what is above the reserve. */
  capFor(wanted: number): number {
    const l = this.limit;
    if (l === null) return wanted;
    return Math.max(4, Math.min(wanted, Math.floor((l - this.reserve) / 3)));
  }
}
