/**
 * The containers' OOM kills and forks refused at the pids limit, turned into events: each
 * increase of a running container's counters (cgroup.ts reads them) is reported once.
 */
import { log } from "../util/log.ts";
import type { Cgroups } from "./cgroup.ts";
import type { CgroupCounters } from "./cgroup_plan.ts";

export type LimitEvent = "container_oom" | "container_pids_limit";

/**
 * Watches running containers' counters and reports each increase (an OOM kill, forks refused at
 * the pids limit) once. Polled every `pollMs` while a container runs (0: only on `check`): the
 * kernel's notifications on these files are rate-limited, and older kernels send pids.events'
 * only once. A run's exit checks once more (exit.ts), so an OOM that killed it is never missed.
 */
export class LimitWatch {
  /** What was reported so far, by container (kept across runs: the group and its counts are). */
  readonly #seen = new Map<number, CgroupCounters>();
  /** Running containers, polled. */
  readonly #active = new Set<number>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #busy = false;
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly cgroups: Cgroups,
    readonly report: (id: number, kind: LimitEvent, count: number) => void,
    readonly pollMs: number,
  ) {}

  add(id: number): void {
    if (!this.cgroups.path(id)) return;
    if (!this.#seen.has(id)) this.#seen.set(id, { oomKills: 0, pidsLimitHits: 0 });
    this.#active.add(id);
    if (this.pollMs > 0 && this.#timer === null) {
      const t = setInterval(() => void this.#poll(), this.pollMs);
      Deno.unrefTimer(t as unknown as number);
      this.#timer = t;
    }
  }

  /** A last check, then no more polling of `id` (until it runs again). */
  async remove(id: number): Promise<void> {
    if (!this.#active.delete(id)) return;
    if (this.#active.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    await this.check(id);
  }

  /** Reports what grew since the last check (checks run one at a time: each report once). */
  check(id: number): Promise<void> {
    const run = this.#chain.then(() => this.#check(id));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #check(id: number): Promise<void> {
    const last = this.#seen.get(id);
    if (!last) return;
    const now = await this.cgroups.counters(id);
    this.#seen.set(id, {
      oomKills: Math.max(now.oomKills, last.oomKills),
      pidsLimitHits: Math.max(now.pidsLimitHits, last.pidsLimitHits),
    });
    if (now.oomKills > last.oomKills) this.report(id, "container_oom", now.oomKills);
    if (now.pidsLimitHits > last.pidsLimitHits) {
      this.report(id, "container_pids_limit", now.pidsLimitHits);
    }
  }

  async #poll(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (const id of [...this.#active]) await this.check(id);
    } catch (e) {
      log.warn(`cgroups: counters: ${(e as Error).message}`);
    } finally {
      this.#busy = false;
    }
  }
}
