/**
 * What every service shares: options, the TEE and its event log, the lifecycle event bus, the
 * state lock, and the pod state (loaded images; containers live in container/).
 */
import type { Options } from "./options.ts";
import type { Tee } from "./attest/tee.ts";
import type { EventLog } from "./attest/eventlog.ts";
import type { EventBus } from "./events.ts";
import type { Mutex } from "./util/mutex.ts";
import type { PodState } from "./state.ts";
import type { Layout } from "./layout.ts";

export type { PodState } from "./state.ts";

export interface Context {
  readonly opts: Options;
  readonly tee: Tee;
  readonly eventLog: EventLog;
  readonly events: EventBus;
  /** Serialises every state-changing operation (validate, measure, commit run under it). */
  readonly lock: Mutex;
  readonly state: PodState;
  readonly startedAt: number;
  readonly layout: Layout;
}
