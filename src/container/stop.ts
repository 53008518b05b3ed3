/** Stopping every container (daemon shutdown, PID-1 power-down) and Kill of one. */
import { denied, invalid, MSG, precondition } from "../errors.ts";
import { log } from "../util/log.ts";
import { settlesWithin } from "../util/timeout.ts";
import type { Registry } from "./registry.ts";
import { isSignalAllowed, killTarget, restartSignal } from "./rules.ts";
import type { Container } from "./types.ts";

/**
 * Stops every running container: its manifest's first signal (or SIGTERM when that is 0 or
 * absent), SIGKILL after graceMs, then waits (bounded) for the exits to be handled, so that no
 * rootfs stays mounted.
 */
export async function stopAll(reg: Registry, graceMs: number): Promise<void> {
  const { sys } = reg.deps;
  const running = reg.running();
  const send = (c: Container, sig: number) => {
    const t = killTarget(c.pid, sig);
    try {
      if (c.state === "running") sys.kill(t.pid, t.sig);
    } catch { /* already gone */ }
  };
  for (const c of running) send(c, restartSignal(c.image.manifest.signals ?? []) ?? 15);
  const all = Promise.all(running.map((c) => c.exited));
  if (await settlesWithin(all, graceMs)) return;
  for (const c of running) {
    try {
      if (c.state === "running") sys.kill(c.pid, 9);
    } catch { /* already gone */ }
  }
  if (!(await settlesWithin(all, 2000))) log.warn("containers did not exit after SIGKILL");
}

/** Kill: a signal the manifest allows, to the running entry point (or its group). */
export function kill(reg: Registry, id: number, sig: number): void {
  const c = reg.get(id);
  if (c.state !== "running") throw precondition(MSG.terminated);
  if (!reg.deps.state.images.has(c.imageId)) throw invalid(MSG.badImageId);
  if (!isSignalAllowed(c.image.manifest.signals ?? [], sig)) throw denied(MSG.signalForbidden);
  const t = killTarget(c.pid, sig);
  reg.deps.sys.kill(t.pid, t.sig);
}
