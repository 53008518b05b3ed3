/**
 * The one owner of waitpid(-1). Every child of the daemon (container inits, Exec processes,
 * orphans re-parented to us as PID 1 or subreaper) is reaped here; a waiter registered for a pid
 * gets its status, unknown pids are just reaped (and logged at debug level).
 *
 * Driven by SIGCHLD plus a slow safety poll (signals coalesce and a listener can miss one). A
 * process created while reaping is paused (`spawn`) cannot be reaped before its waiter exists,
 * so no status is ever lost and no cache keyed by a reusable pid is needed.
 *
 * The composition root (daemon.ts) makes exactly one per process and hands it to whoever creates
 * processes; two reapers would race each other on waitpid(-1).
 */
import type { Sys } from "../sys/mod.ts";
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

/** Subscribes to "a child may have exited" (SIGCHLD by default); returns nothing to undo. */
export type ChildSignal = (onChild: () => void) => void;

const sigchld: ChildSignal = (onChild) => Deno.addSignalListener("SIGCHLD", onChild);

export class Reaper {
  readonly #sys: Pick<Sys, "reapOne" | "setChildSubreaper">;
  readonly #onChildSignal: ChildSignal;
  readonly #pollMs: number;
  readonly #waiters = new Map<number, (s: ExitStatus) => void>();
  #paused = 0;
  #started = false;
  #subreaper = false;

  /** `pollMs` 0: no safety poll (tests whose child signal is exact). */
  constructor(
    sys: Pick<Sys, "reapOne" | "setChildSubreaper">,
    opts: { onChildSignal?: ChildSignal; pollMs?: number } = {},
  ) {
    this.#sys = sys;
    this.#onChildSignal = opts.onChildSignal ?? sigchld;
    this.#pollMs = opts.pollMs ?? 1000;
  }

  /** Installs the SIGCHLD listener and the safety poll; idempotent. */
  start(opts: { subreaper: boolean } = { subreaper: false }): void {
    if (opts.subreaper && !this.#subreaper) {
      this.#sys.setChildSubreaper();
      this.#subreaper = true;
    }
    if (this.#started) return;
    this.#started = true;
    this.#onChildSignal(() => this.reapNow());
    if (this.#pollMs > 0) Deno.unrefTimer(setInterval(() => this.reapNow(), this.#pollMs));
    this.reapNow();
  }

  /** Creates a process with reaping paused; the returned promise is its exit status. */
  async spawn(create: () => Promise<number>): Promise<{ pid: number; exit: Promise<ExitStatus> }> {
    this.#paused++;
    let pid: number;
    try {
      pid = await create();
    } finally {
      this.#paused--;
    }
    const exit = this.waitFor(pid);
    queueMicrotask(() => this.reapNow());
    return { pid, exit };
  }

  /** The exit status of a child that is still unreaped (see spawn for the race this avoids). */
  waitFor(pid: number): Promise<ExitStatus> {
    return new Promise((resolve) => {
      const prev = this.#waiters.get(pid);
      this.#waiters.set(pid, (s) => {
        prev?.(s);
        resolve(s);
      });
    });
  }

  /** Reaps every child that has exited. */
  reapNow(): void {
    if (this.#paused > 0) return;
    for (;;) {
      let r;
      try {
        r = this.#sys.reapOne();
      } catch (e) {
        log.warn(`reaper: ${(e as Error).message}`);
        return;
      }
      if (r === null) return;
      const status = decodeWaitStatus(r.status);
      const w = this.#waiters.get(r.pid);
      if (!w) continue; // an orphan: reaped, nothing waits for it
      this.#waiters.delete(r.pid);
      try {
        w(status);
      } catch (e) {
        log.error(`reaper: waiter of ${r.pid} threw: ${(e as Error).message}`);
      }
    }
  }
}
