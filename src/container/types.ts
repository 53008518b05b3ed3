/** The part of a container every concern sees (the container module keeps the rest). */
import type { LoadedImage } from "../state.ts";
import type { IdMapping } from "./ids.ts";
import type { ExitStatus } from "../proc/reaper.ts";
import type { LogRing } from "./ring.ts";
import type { KeptNamespaces } from "../sys/mod.ts";
import type { ContainerRecord } from "../state.ts";

export type RunState = "running" | "exited";

/** What the container module keeps about a container (a ContainerRecord plus its runtime). */
export interface Container extends ContainerRecord {
  image: LoadedImage;
  /** Host uid (and gid) of the container's root. */
  hostUid: number;
  /** inside → outside, root first; identical for gids; kept across restarts. */
  idMap: IdMapping[];
  /** The sanitised environment, kept for restarts. */
  env: string[];
  state: RunState;
  /** Host pid of the entry point while running (0 once exited). */
  pid: number;
  /** The last exit (null until the first one). */
  exit: ExitStatus | null;
  /** Last known `Name[/exe]` (behaviour file §7.12); initially entrypoint[0]. */
  exePath: string;
  /** Resolves when the current run has exited and been cleaned up. */
  exited: Promise<void>;
  /** Output of the manifest's logFDs, or null when it lists none. */
  logs: LogRing | null;
  /** The user and mount namespaces kept for Restart (null with noRestart). */
  ns: KeptNamespaces | null;
  /** The overlay is mounted in the daemon's namespace (first run, until an exit unmounts it). */
  mounted: boolean;
  /** When the current (or last) run started and, once exited, when it exited (ms since epoch; 0 none). */
  startedMs: number;
  exitedMs: number;
  /** Runs so far (1 after Start, +1 per Restart). */
  runs: number;
  /** Its cgroup directory (kept across restarts), or null when containers get none. */
  cgroup: string | null;
}
