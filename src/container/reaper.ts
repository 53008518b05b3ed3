/**
 * The one owner of waitpid(-1). Every child of the daemon (container inits, Exec processes,
 * orphans re-parented to us as PID 1 or subreaper) is reaped here; a waiter registered for a pid
 * gets its status, unknown pids are just reaped (and logged at debug level).
 *
 * Driven by SIGCHLD plus a slow safety poll (signals coalesce and a listener can miss one). A
 * process created while reaping is paused (`spawn`) cannot be reaped before its waiter exists,
 * so no status is ever lost and no cache keyed by a reusable pid is needed.
 */
import { reapOne, setChildSubreaper } from "../sys/proc.ts";
import { log } from "../util/log.ts";

/** A decoded wait status: exactly one of code (normal exit) and signal (killed) is set. */
export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

export function decodeWaitStatus(st: number): ExitStatus {
  const sig = st & 0x7f;
  if (sig === 0) return { code: (st >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

/**
 * The state is per process, not per instance: whoever constructs a Reaper (the container
 * service, the PID-1 code) gets a view of the same single owner, so two instances can never race
 * each other on waitpid(-1) or lose a status.
 */
const owner = {
  waiters: new Map<number, (s: ExitStatus) => void>(),
  paused: 0,
  timer: null as ReturnType<typeof setInterval> | null,
  listener: null as (() => void) | null,
  reaped: 0,
  orphans: 0,
  subreaper: false,
};

export class Reaper {
  /** Installs the SIGCHLD listener and the safety poll; idempotent (process-wide). */
  start(opts: { subreaper: boolean; pollMs?: number } = { subreaper: false }): void {
    if (opts.subreaper && !owner.subreaper) {
      setChildSubreaper();
      owner.subreaper = true;
    }
    if (owner.listener) return;
    owner.listener = () => this.reapNow();
    Deno.addSignalListener("SIGCHLD", owner.listener);
    const timer = setInterval(() => this.reapNow(), opts.pollMs ?? 1000);
    Deno.unrefTimer(timer);
    owner.timer = timer;
    this.reapNow();
  }

  stop(): void {
    if (owner.listener) Deno.removeSignalListener("SIGCHLD", owner.listener);
    if (owner.timer !== null) clearInterval(owner.timer);
    owner.listener = null;
    owner.timer = null;
  }

  /** Creates a process with reaping paused; the returned promise is its exit status. */
  async spawn(create: () => Promise<number>): Promise<{ pid: number; exit: Promise<ExitStatus> }> {
    owner.paused++;
    let pid: number;
    try {
      pid = await create();
    } finally {
      owner.paused--;
    }
    const exit = this.waitFor(pid);
    queueMicrotask(() => this.reapNow());
    return { pid, exit };
  }

  /** The exit status of a child that is still unreaped (see spawn for the race this avoids). */
  waitFor(pid: number): Promise<ExitStatus> {
    return new Promise((resolve) => {
      const prev = owner.waiters.get(pid);
      owner.waiters.set(pid, (s) => {
        prev?.(s);
        resolve(s);
      });
    });
  }

  /** Reaps every child that has exited. */
  reapNow(): void {
    if (owner.paused > 0) return;
    for (;;) {
      let r;
      try {
        r = reapOne();
      } catch (e) {
        log.warn(`reaper: ${(e as Error).message}`);
        return;
      }
      if (r === null) return;
      owner.reaped++;
      const status = decodeWaitStatus(r.status);
      const w = owner.waiters.get(r.pid);
      if (w) {
        owner.waiters.delete(r.pid);
        try {
          w(status);
        } catch (e) {
          log.error(`reaper: waiter of ${r.pid} threw: ${(e as Error).message}`);
        }
      } else {
        owner.orphans++;
      }
    }
  }

  get stats(): { reaped: number; orphans: number; waiting: number } {
    return { reaped: owner.reaped, orphans: owner.orphans, waiting: owner.waiters.size };
  }
}
