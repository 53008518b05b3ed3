/** Inspect: what a container is and does, with its process's state read from /proc. */
import { statusFields } from "./exit.ts";
import type { Registry } from "./registry.ts";
import type { Container } from "./types.ts";

/** One container as Inspect reports it (api/handlers/container.ts maps it to the wire). */
export interface ContainerInfo {
  containerId: number;
  /** The /proc state letter's character code (0 when not running). */
  state: number;
  wstatus: number;
  exitSignal: boolean;
  imageId: string;
  exePath: string;
  running: boolean;
  pid: number;
  /** Its interactive Execs still running (their terminals: session ids for Attach). */
  sessions: { session: number; pid: number; pty: string; command: string }[];
  /** Its cgroup's memory.max and pids.max (0: none enforced). */
  memoryLimit: number;
  pidsLimit: number;
  /** Processes the OOM killer killed; forks refused at the pids limit (since its Start). */
  oomKills: number;
  pidsLimitHits: number;
  /** When the current (or last) run started / exited (ms since epoch; 0: not yet). */
  startedMs: number;
  exitedMs: number;
}

/** One container (id > 0) or all of them (id 0), by id. */
export function select(reg: Registry, id: number): Container[] {
  return id === 0 ? reg.all() : [reg.get(id)];
}

export async function info(reg: Registry, c: Container): Promise<ContainerInfo> {
  const running = c.state === "running";
  const state = running ? await refresh(reg, c) : 0;
  const st = running ? { wstatus: 0, exitSignal: false } : statusFields(c.exit);
  const cg = reg.deps.cgroups;
  const limits = c.cgroup ? cg.containerLimits() : { memoryLimit: 0, pidsLimit: 0 };
  const counters = c.cgroup ? await cg.counters(c.id) : { oomKills: 0, pidsLimitHits: 0 };
  return {
    containerId: c.id,
    state,
    ...st,
    imageId: c.imageId,
    exePath: c.exePath,
    running,
    pid: c.pid,
    sessions: reg.deps.terminals.sessions(c.id),
    ...limits,
    ...counters,
    startedMs: c.startedMs,
    exitedMs: c.exitedMs,
  };
}

/** State letter and `Name[exe]` from /proc; a process that just exited keeps the old values. */
async function refresh(reg: Registry, c: Container): Promise<number> {
  const { sys, procRoot } = reg.deps;
  const pid = c.pid;
  try {
    const status = await sys.readTextFile(`${procRoot}/${pid}/status`);
    const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "";
    const state = /^State:\s*(\S)/m.exec(status)?.[1] ?? "";
    let exe = "";
    try {
      exe = await sys.readLink(`${procRoot}/${pid}/exe`);
    } catch { /* a kernel thread or gone */ }
    if (c.pid === pid) c.exePath = exe ? `${name}[${exe}]` : name;
    return state ? state.charCodeAt(0) : 0;
  } catch {
    return 0;
  }
}
