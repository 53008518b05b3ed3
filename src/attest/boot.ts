/** At daemon start: recover the event log, then measure the boot event (or say why not). */
import type { Options } from "../options.ts";
import type { Tee } from "./tee.ts";
import type { EventLog } from "./eventlog.ts";
import { bootEventLine, type BootLimits } from "./bootevent.ts";
import { ACOND_VERSION } from "../version.ts";
import { log } from "../util/log.ts";

/** `limits`: the containers' cgroup limits as set up (what is enforced, not only configured). */
export async function measureBoot(
  opts: Options,
  tee: Tee,
  eventLog: EventLog,
  limits?: BootLimits,
): Promise<void> {
  await eventLog.open();
  if (!tee.canMeasure) {
    log.warn(`TEE ${tee.kind} cannot measure (${tee.note}): images will be refused`);
    return;
  }
  if (eventLog.broken) return; // already logged; measurements are refused
  const line = bootEventLine({
    version: ACOND_VERSION,
    tee: tee.kind,
    pid1: opts.pid1,
    interactive: opts.interactive ?? false,
    // The console's root shell: it exists only in interactive mode (console/mux/).
    debugConsole: (opts.interactive ?? false) && (opts.debugShell ?? false),
    minHash: opts.minHash,
    tls: opts.tls !== false,
    limits,
    launchConfig: opts.launchConfigDigest,
  });
  await eventLog.measure(line);
  log.info(`measured: ${line}`);
}
