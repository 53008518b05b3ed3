/**
 * `acond.test_fault` (tests only): faults injected after boot, to show that PID 1 survives them
 * (an uncaught exception, an unhandled rejection, SIGTERM to itself, a listener that ends).
 */
import type { Listener } from "../api/server.ts";
import { log } from "../util/log.ts";

export function injectFaults(faults: string[], listeners: Listener[]): void {
  for (const f of faults) {
    log.warn(`test fault injected: ${f}`);
    if (f === "throw") {
      setTimeout(() => {
        throw new Error("injected uncaught exception (acond.test_fault=throw)");
      }, 10);
    }
    if (f === "sigterm") {
      // The kernel delivers a signal from PID 1 to itself only because a handler is installed:
      // the same path as `kill -TERM 1` from a process in the VM.
      setTimeout(() => Deno.kill(Deno.pid, "SIGTERM"), 1000);
    }
    if (f === "listener") {
      // A listener whose server ends on its own (as after an accept error): it must come back.
      const tcp = listeners.find((l) => l.addr.startsWith("tcp:"));
      setTimeout(() => void tcp?.shutdown(), 30);
    }
    if (f === "reject") {
      setTimeout(() => {
        Promise.reject(new Error("injected unhandled rejection (acond.test_fault=reject)"));
      }, 20);
    }
  }
}
