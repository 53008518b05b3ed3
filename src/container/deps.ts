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
  /** Interactive mode (recorded in the boot event): only then may an Exec get a pty. */
  interactive: boolean;
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
