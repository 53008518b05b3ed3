/**
 * Keeps the API listeners up: a listener whose server ends while acond is not shutting down is
 * started again (with a growing back-off), so one failing socket never leaves PID 1 deaf. It only
 * supervises: how each transport is served is api/server.ts's (one handler for all).
 */
import type { Listener } from "../api/server.ts";
import { log } from "../util/log.ts";

export interface ListenerSpec {
  name: string;
  start(): Listener | Promise<Listener>;
}

export class ListenerSupervisor {
  #current = new Map<string, Listener>();
  #stopping = false;
  /** How many restarts happened (Health/logs/tests). */
  restarts = 0;

  constructor(private readonly minBackoffMs = 200, private readonly maxBackoffMs = 10_000) {}

  /** Supervises `spec`; `initial` is an already running listener to adopt. */
  async add(spec: ListenerSpec, initial?: Listener): Promise<void> {
    let backoff = this.minBackoffMs;
    const run = async (l: Listener | undefined) => {
      while (!this.#stopping) {
        if (!l) {
          try {
            l = await spec.start();
            backoff = this.minBackoffMs;
          } catch (e) {
            log.error(`listener ${spec.name}: ${(e as Error).message}; retrying`);
            await new Promise((r) => setTimeout(r, backoff));
            backoff = Math.min(backoff * 2, this.maxBackoffMs);
            continue;
          }
        }
        this.#current.set(spec.name, l);
        await l.finished.catch((e) => log.error(`listener ${spec.name}: ${e}`));
        this.#current.delete(spec.name);
        if (this.#stopping) return;
        this.restarts++;
        log.error(`listener ${spec.name} (${l.addr}) ended; restarting`);
        l = undefined;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    };
    if (initial) {
      run(initial);
    } else {
      // The first start happens now, so a caller sees the listener before this resolves.
      let first: Listener | undefined;
      try {
        first = await spec.start();
      } catch (e) {
        log.error(`listener ${spec.name}: ${(e as Error).message}; retrying`);
      }
      run(first);
    }
  }

  get listeners(): Listener[] {
    return [...this.#current.values()];
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      [...this.#current.values()].map((l) => l.shutdown().catch(() => {})),
    );
  }
}
