/**
 * Requests as the VM's sign of life: every request on any listener counts as activity for the
 * idle power-off (acond.timeout, init/idle.ts), and the first one is logged with its timing
 * (boot-to-first-answer is what a host waits for).
 */
import type { Route } from "../api/server.ts";
import { coreOf, withCore } from "../api/unary.ts";
import { log } from "../util/log.ts";
import { IdleTimer } from "./idle.ts";
import { DEFAULT_GRACE_MS } from "../power.ts";
import { childPids, type PowerDown } from "./shutdown.ts";

/**
 * Starts the idle timer and makes every route of the shared table count as activity. The table
 * is wrapped in place: listeners already serving it (the daemon's Unix socket) count too.
 */
export function watchActivity(
  routes: Map<string, Route>,
  timeoutS: number,
  power: PowerDown,
): IdleTimer {
  const idle = new IdleTimer(
    timeoutS * 1000,
    () => childPids().length > 0,
    () => void power.run("poweroff", DEFAULT_GRACE_MS, `idle for ${timeoutS} s (acond.timeout)`),
  );
  countRequests(routes, idle);
  return idle;
}

function countRequests(routes: Map<string, Route>, idle: IdleTimer): void {
  let first = true;
  for (const [path, route] of routes) {
    /** Runs one request as activity; logs the first. */
    const counted = async <T>(run: () => Promise<T>): Promise<T> => {
      idle.begin();
      const t = performance.now();
      try {
        return await run();
      } finally {
        idle.end();
        if (first) {
          first = false;
          const now = performance.now();
          log.info(
            `first request (${path.slice(path.lastIndexOf("/") + 1)}) answered at ` +
              `${now.toFixed(0)} ms, in ${(now - t).toFixed(0)} ms`,
          );
        }
      }
    };
    const wrapped: Route = (req) => counted(() => route(req));
    // A unary core (calls answered without a Request: api/h1_unary.ts, api/h2.ts) counts too.
    const core = coreOf(route);
    routes.set(
      path,
      core ? withCore(wrapped, { ...core, answer: (c) => counted(() => core.answer(c)) }) : wrapped,
    );
  }
}
