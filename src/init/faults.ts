/**
 * `acond.test_fault` (tests only): faults injected after boot, to show that PID 1 survives them
 * (an uncaught exception, an unhandled rejection, SIGTERM to itself, a listener that ends, its
 * descriptors nearly all in use).
 */
import { DescriptorBudget } from "../api/fd_budget.ts";
import type { Listener } from "../api/server.ts";
import { log } from "../util/log.ts";

/** Descriptors the `fds` fault leaves for connections above the budget's reserve. */
export const FDS_FAULT_SPARE = 8;

/** Kept for the life of PID 1: the `fds` fault's descriptors. */
const held: Deno.FsFile[] = [];

/**
 * Opens /dev/null until only the reserve plus `spare` descriptors are left, as if clients and
 * containers had taken the rest: a flood of connections then meets the descriptor budget.
 */
function holdDescriptors(spare: number): void {
  const budget = new DescriptorBudget();
  const limit = budget.limit;
  if (limit === null) {
    log.warn("test fault fds: no RLIMIT_NOFILE to read; nothing held");
    return;
  }
  let open = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) open++;
  const target = limit - budget.reserve - spare;
  try {
    while (open + held.length < target) held.push(Deno.openSync("/dev/null"));
  } catch (e) {
    log.warn(`test fault fds: stopped opening: ${(e as Error).message}`);
  }
  log.warn(
    `test fault fds: holding ${held.length} descriptors of ${limit}; ` +
      `${limit - open - held.length} left (reserve ${budget.reserve})`,
  );
}

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
    if (f === "fds") holdDescriptors(FDS_FAULT_SPARE);
    if (f === "reject") {
      setTimeout(() => {
        Promise.reject(new Error("injected unhandled rejection (acond.test_fault=reject)"));
      }, 20);
    }
  }
}
