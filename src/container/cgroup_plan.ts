/**
 * The containers' cgroup layout and what is parsed from the kernel's files: pure, no I/O (the
 * file steps are in cgroup.ts, the counters' watcher in limit_watch.ts). The layout:
 *
 *   <base>/<name>/               acond's sub-tree (controllers enabled below it)
 *   <base>/<name>/daemon/        acond itself (a leaf: the "no internal processes" rule)
 *   <base>/<name>/containers/    all containers: memory.max = MemTotal − reserve, pids.max =
 *                                min(pid_max, threads-max) − reserve, so their sum cannot starve
 *                                the daemon; the daemon's leaf also gets memory.min = reserve
 *   <base>/<name>/containers/<id>/   one container (pids.max, memory.max, memory.oom.group)
 *
 * `base` is the cgroup2 root as PID 1 (mounted at /sys/fs/cgroup), acond's own cgroup in dev
 * mode; `name` is "acond" as PID 1, "acond-<pid>" in dev mode (several daemons on one host).
 */
import type { CgroupLimits } from "../options.ts";

export type Controller = "memory" | "pids";
export const CONTROLLERS: readonly Controller[] = ["memory", "pids"];

export type { CgroupLimits } from "../options.ts";
export { DEFAULT_LIMITS, MIB } from "../options.ts";

export interface CgroupPlan {
  /** acond's sub-tree. */
  root: string;
  daemon: string;
  containers: string;
}

/** Where acond's sub-tree goes, under `base` (an absolute directory in a cgroup2 mount). */
export function cgroupPlan(base: string, name: string): CgroupPlan {
  const root = `${base.replace(/\/+$/, "")}/${name}`;
  return { root, daemon: `${root}/daemon`, containers: `${root}/containers` };
}

/** The cgroup2 mount point in /proc/self/mountinfo, or null. */
export function cgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0 || line.slice(sep + 3).split(" ")[0] !== "cgroup2") continue;
    const target = line.slice(0, sep).split(" ")[4];
    if (target) {
      return target.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    }
  }
  return null;
}

/** The process's cgroup v2 path ("0::/path" of /proc/self/cgroup), or null. */
export function ownCgroup(procCgroup: string): string | null {
  const line = procCgroup.split("\n").find((l) => l.startsWith("0::"));
  return line ? line.slice(3) || "/" : null;
}

/** `key value` lines (memory.events, pids.events, meminfo without its unit) as numbers. */
export function parseKeyed(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    const f = line.trim().split(/[\s:]+/);
    if (f.length >= 2 && /^\d+$/.test(f[1])) m.set(f[0], Number(f[1]));
  }
  return m;
}

/** What the boot event records: the limits, and which controllers actually enforce them. */
export interface LimitFacts extends CgroupLimits {
  enforced: Controller[];
}

/** A container's counters, as Inspect and Watch show them. */
export interface CgroupCounters {
  /** Processes the OOM killer killed in the container (memory.events oom_kill). */
  oomKills: number;
  /** Forks refused at the pids limit (pids.events max). */
  pidsLimitHits: number;
}
