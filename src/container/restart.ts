/**
 * Restart: stop the running entry point with the manifest's restart signal, then launch it again
 * in the kept namespaces (start.ts). The caller's timeout bounds the whole call when the entry
 * point is running (ACON: timeout 0 is refused then) and, when it is > 0, also the wait for the
 * pod lock. Nothing waits on a process while holding the lock: the exit of the run this Restart
 * saw is awaited first, and under the lock a run that is no longer that one (another Restart
 * got there first) is refused as "Container already restarted".
 */
import { AcondError, denied, invalid, MSG, precondition, withContext } from "../errors.ts";
import { settlesWithin } from "../util/timeout.ts";
import type { Registry } from "./registry.ts";
import { restartSignal } from "./rules.ts";
import { signalContainer } from "./signals.ts";
import { launch } from "./start.ts";

const timedOut = () => new AcondError("deadline_exceeded", MSG.restartTimeout);

export async function restart(reg: Registry, id: number, timeoutSec: number): Promise<void> {
  const { deps } = reg;
  const c = reg.get(id);
  if (!deps.state.images.has(c.imageId)) throw invalid(MSG.badImageId);
  if (c.image.manifest.noRestart) throw denied(MSG.restartForbidden);
  const deadline = Date.now() + Math.max(0, timeoutSec) * 1000;
  // The run this Restart replaces, and its exit promise (it exists since the process was
  // created, so an exit before or right after the signal cannot be missed; ACON registered its
  // waiter after the kill).
  const run = c.runs;
  const exited = c.exited;
  if (c.state === "running") {
    if (timeoutSec <= 0) throw timedOut();
    const sig = restartSignal(c.image.manifest.signals ?? []);
    if (sig !== null) signalContainer(reg, c, sig);
    if (!(await settlesWithin(exited, deadline - Date.now()))) throw timedOut();
  } else {
    await exited; // an exited run: only its clean-up (onExit) may still be finishing
  }
  const wait = timeoutSec > 0
    ? { ms: Math.max(0, deadline - Date.now()), error: timedOut }
    : undefined;
  await deps.lock.run(async () => {
    if (c.runs !== run || c.state === "running") {
      throw precondition("Container already restarted");
    }
    reg.checkInstances(c.image.id, c.image.manifest.maxInstances ?? 1);
    await withContext(`restart container ${c.id}`, () => launch(reg, c, false));
    deps.events.emit({ kind: "container_restarted", containerId: c.id, imageId: c.imageId });
  }, wait);
}
