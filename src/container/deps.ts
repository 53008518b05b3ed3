/**
 * What the container service is given by the composition root (daemon.ts): the kernel (`Sys`,
 * and where /proc is), the process plumbing, the shared pod state and lock, and two ports to
 * other concerns (kernel modules, attestation sockets). Nothing here is looked up globally.
 */
import type { Sys } from "../sys/mod.ts";
import type { Reaper } from "../proc/reaper.ts";
import type { FdWatcher } from "../proc/poller.ts";
import type { Layout } from "../layout.ts";
import type { Mutex } from "../util/mutex.ts";
import type { PodState } from "../state.ts";
import type { EventBus } from "../events.ts";
import type { Cgroups } from "./cgroup.ts";

/** Each container's own attestation socket (attest/ipcserver.ts behind a port). */
export interface AttestSockets {
  /** Listens for container `cid`; the path to bind over /shared/acon.sock, "" for none. */
  open(cid: number): Promise<string>;
  close(cid: number): Promise<void>;
}

/** A process's exit as a terminal announces it: the exit code, or the signal that killed it. */
export interface TerminalExit {
  wstatus: number;
  signal: boolean;
}

/** A pty made for a process about to be created (the terminal is not listed until `started`). */
export interface PendingPty {
  /** 0 for a container's own terminal, else the interactive Exec's session id. */
  readonly session: number;
  /** The slave's fd, for the child's stdio (closed by `started` or `abandon`). */
  readonly slave: number;
  /** The slave's path, e.g. /dev/pts/3. */
  readonly name: string;
  /** The process exists: the terminal is served and listed; exit resolves when it has exited. */
  started(pid: number, exit: Promise<TerminalExit>): void;
  /** The process could not be created: both ends closed, nothing listed. */
  abandon(): void;
}

/** The terminals of interactive mode (console/terminals.ts, the one owner of ptys). */
export interface Terminals {
  /**
   * A new pty for a container's entry point (`own`: its session 0) or an interactive Exec.
   * Throws AcondError resource_exhausted when acond holds too many terminals.
   */
  open(t: { containerId: number; own: boolean; imageId: string; command: string }): PendingPty;
  /** A container's interactive Exec sessions whose process is running (Inspect). */
  sessions(containerId: number): { session: number; pid: number; pty: string; command: string }[];
}

export interface ContainerDeps {
  sys: Sys;
  /** Where procfs is mounted ("/proc"; tests point it at a directory of their own). */
  procRoot: string;
  reaper: Pick<Reaper, "start" | "spawn">;
  fds: FdWatcher;
  layout: Layout;
  lock: Mutex;
  state: PodState;
  events: EventBus;
  /** PID-1 mode: host uid == container id; otherwise a high uid base and a subreaper. */
  pid1: boolean;
  /**
   * Interactive mode (recorded in the boot event): only then may an Exec get a pty, and a
   * container's entry point gets one unless its manifest lists logFDs 1 or 2 (docs/console.md).
   */
  interactive: boolean;
  /** Where ptys come from and are served (console/terminals.ts). */
  terminals: Terminals;
  /** The directory bind-mounted as every container's /shared. */
  sharedDir: string;
  /** Makes a kernel module available (PID 1 loads overlay on first use); no-op in dev mode. */
  ensureModule(name: string): Promise<void>;
  attestSockets: AttestSockets;
  /** The containers' cgroups (cgroup.ts), set up by the composition root before measuring. */
  cgroups: Cgroups;
  /** How often running containers' OOM and pids-limit counters are read (ms; 0: on exit only). */
  limitPollMs: number;
}
