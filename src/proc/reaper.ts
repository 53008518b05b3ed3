/**
 * The one owner of waitpid(-1). Every child of the daemon (container inits, Exec processes,
 * orphans re-parented to us as PID 1 or subreaper) is reaped here; a waiter registered for a pid
 * gets its status, unknown pids are just reaped.
 *
 * Driven by SIGCHLD plus a slow safety poll (signals coalesce and a listener can miss one).
 * Reaping never pauses: a process creation can take as long as its deadline (a container can
 * stop an Exec'd child before it execs), and no other container's exit may wait for it.
 *
 * The race this must close: a child created by `spawn` can exit and be reaped before `spawn`
 * learns its pid (the creation runs on a worker thread). So while any spawn is in flight, the
 * status of every pid reaped without a waiter is kept (`#unclaimed`, the newest per pid, with
 * the sequence number of its reaping), and a spawn that learns pid P claims P's kept status.
 *
 * Pid reuse, written down. A kept status of P may belong to an older process that had P (an
 * orphan, an Exec intermediate, another spawn's child) rather than to this spawn's child:
 * - a status reaped before this spawn began cannot be its child's: only statuses whose sequence
 *   number is at least the spawn's starting one are claimed;
 * - an older P reaped during the spawn, whose P the child then got: the child is then still an
 *   unreaped child of ours (its own exit not reaped yet, or it would have replaced the kept
 *   status), which `childExists(P)` (waitid WNOWAIT, exact: only our children, never reaps)
 *   says; the kept status is then not the child's, and the spawn waits for P as usual.
 *   JavaScript runs one thing at a time and only this class reaps, so nothing is reaped between
 *   that check and the waiter's registration;
 * - the one case left is P reused twice within one spawn (the child exits, is reaped, and a
 *   third process gets P and exits before the spawn resumes): that needs the kernel's pid
 *   counter to wrap twice (pid_max, 4 Mi by default) within one spawn's deadline, and even then
 *   the spawn gets the status of a process that had its child's pid, never a hang.
 * Kept statuses go as soon as no spawn in flight could claim them (older than the oldest
 * spawn's start), so the table holds at most the exits of one spawn's deadline.
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
  readonly #sys: Pick<Sys, "reapOne" | "setChildSubreaper" | "childExists">;
  readonly #onChildSignal: ChildSignal;
  readonly #pollMs: number;
  readonly #waiters = new Map<number, (s: ExitStatus) => void>();
  /** Spawns in flight: each one's starting sequence number. */
  readonly #inFlight = new Set<{ since: number }>();
  /** While a spawn is in flight: statuses reaped without a waiter, the newest per pid. */
  readonly #unclaimed = new Map<number, { seq: number; status: ExitStatus }>();
  /** Statuses reaped so far (the sequence number of the next one). */
  #seq = 0;
  #started = false;
  #subreaper = false;

  /** `pollMs` 0: no safety poll (tests whose child signal is exact). */
  constructor(
    sys: Pick<Sys, "reapOne" | "setChildSubreaper" | "childExists">,
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

  /** Creates a process (reaping goes on meanwhile); the returned promise is its exit status. */
  async spawn(create: () => Promise<number>): Promise<{ pid: number; exit: Promise<ExitStatus> }> {
    const me = { since: this.#seq };
    this.#inFlight.add(me);
    try {
      const pid = await create();
      return { pid, exit: this.#claim(pid, me.since) };
    } finally {
      this.#inFlight.delete(me);
      this.#prune();
      queueMicrotask(() => this.reapNow());
    }
  }

  /** The exit of a child just created: its status if reaped already (see the top), else a wait. */
  #claim(pid: number, since: number): Promise<ExitStatus> {
    const kept = this.#unclaimed.get(pid);
    if (kept && kept.seq >= since) {
      let exists = true;
      try {
        exists = this.#sys.childExists(pid);
      } catch (e) {
        log.warn(`reaper: ${(e as Error).message}`);
      }
      if (!exists) {
        this.#unclaimed.delete(pid);
        return Promise.resolve(kept.status);
      }
    }
    return this.waitFor(pid);
  }

  /** Drops the kept statuses that no spawn in flight can claim. */
  #prune(): void {
    if (this.#inFlight.size === 0) {
      this.#unclaimed.clear();
      return;
    }
    const oldest = Math.min(...[...this.#inFlight].map((s) => s.since));
    for (const [pid, k] of this.#unclaimed) if (k.seq < oldest) this.#unclaimed.delete(pid);
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

  /** Statuses kept for spawns in flight (for tests: bounded, empty when none is in flight). */
  get kept(): number {
    return this.#unclaimed.size;
  }

  /** Reaps every child that has exited. */
  reapNow(): void {
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
      const seq = this.#seq++;
      const w = this.#waiters.get(r.pid);
      if (!w) {
        // An orphan, an Exec intermediate, or a child whose spawn has not returned yet.
        if (this.#inFlight.size > 0) this.#unclaimed.set(r.pid, { seq, status });
        continue;
      }
      this.#waiters.delete(r.pid);
      try {
        w(status);
      } catch (e) {
        log.error(`reaper: waiter of ${r.pid} threw: ${(e as Error).message}`);
      }
    }
  }
}
