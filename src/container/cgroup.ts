/**
 * Resource limits: every container in its own cgroup v2 group with pids and memory limits, and
 * acond's own group protected (docs/containers.md, "Resource limits"). The layout and the parsing
 * are pure (cgroup_plan.ts); the file steps here go through the `Sys` seam, so the fake kernel
 * can fail each; the OOM and pids-limit counters are watched by limit_watch.ts.
 * Processes join a group from their first instruction: the shim's child writes itself into the
 * group's cgroup.procs before it builds anything (see "cgroups" in ffi/spawn.c).
 */
import type { Sys } from "../sys/mod.ts";
import { type CgroupLimits, MIB } from "../options.ts";
import { log } from "../util/log.ts";
import {
  cgroup2Mount,
  type CgroupCounters,
  type CgroupPlan,
  cgroupPlan,
  type Controller,
  CONTROLLERS,
  type LimitFacts,
  ownCgroup,
  parseKeyed,
} from "./cgroup_plan.ts";

export type { CgroupLimits } from "../options.ts";
export { DEFAULT_LIMITS, MIB } from "../options.ts";
export type { CgroupCounters, CgroupPlan, Controller, LimitFacts } from "./cgroup_plan.ts";

export interface CgroupSetup {
  sys: Sys;
  procRoot: string;
  pid1: boolean;
  /** acond's own pid (moved into the daemon leaf). */
  pid: number;
  limits: CgroupLimits;
}

/**
 * The containers' cgroups. `plan` is null when no sub-tree could be made (no cgroup2): then no
 * container gets a group and nothing is enforced (the boot event says so).
 */
export class Cgroups {
  constructor(
    readonly sys: Sys,
    readonly plan: CgroupPlan | null,
    readonly limits: CgroupLimits,
    readonly enforced: Controller[],
  ) {}

  /** Builds acond's sub-tree; never throws: what failed is logged and not enforced. */
  static async setup(s: CgroupSetup): Promise<Cgroups> {
    const { sys, procRoot, limits } = s;
    let plan: CgroupPlan | null = null;
    const enforced: Controller[] = [];
    try {
      const mnt = cgroup2Mount(await sys.readTextFile(`${procRoot}/self/mountinfo`));
      if (!mnt) throw new Error("no cgroup2 file system is mounted");
      const own = s.pid1 ? "/" : ownCgroup(await sys.readTextFile(`${procRoot}/self/cgroup`));
      if (own === null) throw new Error("acond is in no cgroup v2 group");
      const base = own === "/" ? mnt : `${mnt}${own}`;
      const p = cgroupPlan(base, s.pid1 ? "acond" : `acond-${s.pid}`);
      const available = new Set(
        (await sys.readTextFile(`${base}/cgroup.controllers`)).trim().split(/\s+/),
      );
      const want = CONTROLLERS.filter((c) => available.has(c));
      const missing = CONTROLLERS.filter((c) => !available.has(c));
      if (missing.length) {
        log.warn(
          `cgroup ${base}: no ${missing.join(", ")} controller: those limits are not enforced`,
        );
      }
      if (!s.pid1) await removeStale(sys, procRoot, base);
      await sys.mkdir(p.daemon, 0o755);
      plan = p; // from here on, containers get groups (placement works without controllers)
      await sys.writeTextFile(`${p.daemon}/cgroup.procs`, String(s.pid));
      await sys.mkdir(p.containers, 0o755);
      if (want.length) {
        const ctl = want.map((c) => `+${c}`).join(" ");
        await enable(sys, `${base}/cgroup.subtree_control`, ctl, base);
        await enable(sys, `${p.root}/cgroup.subtree_control`, ctl, p.root);
        await enable(sys, `${p.containers}/cgroup.subtree_control`, ctl, p.containers);
      }
      if (want.includes("memory")) {
        const total = (parseKeyed(await sys.readTextFile(`${procRoot}/meminfo`)).get("MemTotal") ??
          0) * 1024;
        await sys.writeTextFile(`${p.daemon}/memory.min`, String(limits.reserveMemory));
        const rest = Math.max(total - limits.reserveMemory, 16 * MIB);
        await sys.writeTextFile(`${p.containers}/memory.max`, String(rest));
        enforced.push("memory");
      }
      if (want.includes("pids")) {
        const num = async (f: string) =>
          Number((await sys.readTextFile(`${procRoot}/sys/kernel/${f}`)).trim()) || Infinity;
        const cap = Math.min(await num("pid_max"), await num("threads-max"));
        const rest = Number.isFinite(cap) ? Math.max(cap - limits.reservePids, 16) : 0;
        if (rest) await sys.writeTextFile(`${p.containers}/pids.max`, String(rest));
        enforced.push("pids");
      }
      log.info(
        `cgroups: containers under ${p.containers} (limits: ${enforced.join(", ") || "none"})`,
      );
    } catch (e) {
      log.error(
        `cgroups: ${(e as Error).message}; ` +
          (plan ? "containers get groups but no limits" : "containers get no cgroup and no limits"),
      );
      enforced.length = 0;
    }
    return new Cgroups(sys, plan, limits, enforced);
  }

  facts(): LimitFacts {
    return { ...this.limits, enforced: [...this.enforced] };
  }

  /** What each container's group enforces (0: no limit of that kind). */
  containerLimits(): { memoryLimit: number; pidsLimit: number } {
    const on = (c: Controller, v: number) => (this.enforced.includes(c) ? v : 0);
    return {
      memoryLimit: on("memory", this.limits.memoryMax),
      pidsLimit: on("pids", this.limits.pidsMax),
    };
  }

  /** The group of container `id` (null when containers get none). */
  path(id: number): string | null {
    return this.plan ? `${this.plan.containers}/${id}` : null;
  }

  /**
   * Creates container `id`'s group with its limits; on failure nothing stays (the group is
   * removed) and the error says which file.
   */
  async create(id: number): Promise<string | null> {
    const dir = this.path(id);
    if (!dir) return null;
    const { sys, limits } = this;
    await sys.mkdir(dir, 0o755);
    try {
      if (this.enforced.includes("pids") && limits.pidsMax > 0) {
        await sys.writeTextFile(`${dir}/pids.max`, String(limits.pidsMax));
      }
      if (this.enforced.includes("memory")) {
        if (limits.memoryMax > 0) {
          await sys.writeTextFile(`${dir}/memory.max`, String(limits.memoryMax));
          // No swapping around the limit (the file exists only with swap accounting).
          await orElse(() => sys.writeTextFile(`${dir}/memory.swap.max`, "0"), undefined);
        }
        // An OOM kills the whole container, not one process of it.
        await sys.writeTextFile(`${dir}/memory.oom.group`, "1");
      }
    } catch (e) {
      await this.remove(id);
      throw e;
    }
    return dir;
  }

  /** Removes container `id`'s group (empty once its processes are reaped); false if it stays. */
  async remove(id: number): Promise<boolean> {
    const dir = this.path(id);
    if (!dir) return true;
    try {
      await this.sys.rmdir(dir);
      return true;
    } catch (e) {
      log.warn(`cgroup ${dir}: remove: ${(e as Error).message}`);
      return false;
    }
  }

  /** The container's counters (0 for what its kernel does not count). */
  async counters(id: number): Promise<CgroupCounters> {
    const dir = this.path(id);
    const read = async (f: string) => {
      if (!dir) return new Map<string, number>();
      return parseKeyed(await orElse(() => this.sys.readTextFile(`${dir}/${f}`), ""));
    };
    const [mem, pids] = await Promise.all([read("memory.events"), read("pids.events")]);
    return { oomKills: mem.get("oom_kill") ?? 0, pidsLimitHits: pids.get("max") ?? 0 };
  }

  /** Dev-mode shutdown: acond back to its first group, its sub-tree removed (best effort). */
  async close(containerIds: number[], pid: number): Promise<void> {
    if (!this.plan) return;
    const { sys, plan } = this;
    for (const id of containerIds) await this.remove(id);
    try {
      const base = plan.root.slice(0, plan.root.lastIndexOf("/"));
      await sys.writeTextFile(`${base}/cgroup.procs`, String(pid));
      for (const d of [plan.containers, plan.daemon, plan.root]) await sys.rmdir(d);
    } catch (e) {
      log.warn(`cgroups: remove ${plan.root}: ${(e as Error).message}`);
    }
  }
}

async function enable(sys: Sys, file: string, ctl: string, dir: string): Promise<void> {
  const now = (await orElse(() => sys.readTextFile(file), "")).trim().split(/\s+/);
  const need = ctl.split(" ").filter((c) => !now.includes(c.slice(1)));
  if (!need.length) return;
  try {
    await sys.writeTextFile(file, need.join(" "));
  } catch (e) {
    throw new Error(
      `cannot enable ${need.join(" ")} in ${dir} (${(e as Error).message}): ` +
        "it must have no processes of its own; run acond in a cgroup of its own",
      { cause: e },
    );
  }
}

/** fn's value, or `other` if it fails (synchronously or not). */
async function orElse<T>(fn: () => Promise<T>, other: T): Promise<T> {
  try {
    return await fn();
  } catch {
    return other;
  }
}

/**
 * Dev mode: the sub-trees of earlier daemons under `base` (`acond-<pid>`, that pid gone: killed
 * before its shutdown) are removed. Only empty groups can be; a group still in use stays.
 */
async function removeStale(sys: Sys, procRoot: string, base: string): Promise<void> {
  try {
    for await (const e of sys.readDir(base)) {
      const m = /^acond-(\d+)$/.exec(e.name);
      if (!m || !e.isDirectory || await sys.stat(`${procRoot}/${m[1]}`)) continue;
      const p = cgroupPlan(base, e.name);
      const kids: string[] = [];
      for await (const k of sys.readDir(p.containers)) if (k.isDirectory) kids.push(k.name);
      for (
        const d of [...kids.map((k) => `${p.containers}/${k}`), p.containers, p.daemon, p.root]
      ) {
        await sys.rmdir(d);
      }
      log.info(`cgroups: removed ${p.root}, left by a daemon that was killed`);
    }
  } catch (e) {
    log.warn(`cgroups: stale groups under ${base}: ${(e as Error).message}`);
  }
}
