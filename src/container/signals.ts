/** Sending a signal to a container's process (group), tolerating one that has just exited. */
import { SysError } from "../sys/mod.ts";
import type { Registry } from "./registry.ts";
import { killTarget } from "./rules.ts";
import type { Container } from "./types.ts";

/** Signals the container's entry point per its manifest's rule; false if it was already gone. */
export function signalContainer(reg: Registry, c: Container, sig: number): boolean {
  const t = killTarget(c.pid, sig);
  try {
    reg.deps.sys.kill(t.pid, t.sig);
    return true;
  } catch (e) {
    if (e instanceof SysError && e.errnoName === "ESRCH") return false;
    throw e;
  }
}
