/**
 * Restart: stop the running entry point with the manifest's restart signal (bounded by the
 * caller's timeout), then launch it again in the kept namespaces (start.ts).
 */
import { AcondError, denied, invalid, MSG, precondition, withContext } from "../errors.ts";
import { settlesWithin } from "../util/timeout.ts";
import type { Registry } from "./registry.ts";
import { restartSignal } from "./rules.ts";
import { signalContainer } from "./signals.ts";
import { launch } from "./start.ts";

export async function restart(reg: Registry, id: number, timeoutSec: number): Promise<void> {
  const { deps } = reg;
  const c = reg.get(id);
  if (!deps.state.images.has(c.imageId)) throw invalid(MSG.badImageId);
  if (c.image.manifest.noRestart) throw denied(MSG.restartForbidden);
  if (c.state === "running") {
    if (timeoutSec <= 0) throw new AcondError("deadline_exceeded", MSG.restartTimeout);
    // The exit promise exists since the process was created: an exit that happens before or
    // right after the signal cannot be missed (ACON registered its waiter after the kill).
    const exited = c.exited;
    const sig = restartSignal(c.image.manifest.signals ?? []);
    if (sig !== null) signalContainer(reg, c, sig);
    if (!(await settlesWithin(exited, timeoutSec * 1000))) {
      throw new AcondError("deadline_exceeded", MSG.restartTimeout);
    }
  }
  await deps.lock.run(async () => {
    await c.exited;
    if (c.state === "running") throw precondition("Container already restarted");
    reg.checkInstances(c.image.id, c.image.manifest.maxInstances ?? 1);
    await withContext(`restart container ${c.id}`, () => launch(reg, c, false));
    deps.events.emit({ kind: "container_restarted", containerId: c.id, imageId: c.imageId });
  });
}
