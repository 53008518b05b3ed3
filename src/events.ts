/** In-process lifecycle events, fanned out to Watch streams (api/ maps them to the wire). */

export type EventKind =
  | "image_added"
  | "container_started"
  | "container_exited"
  | "container_restarted"
  | "finalized"
  | "container_oom"
  | "container_pids_limit";

export interface AcondEvent {
  kind: EventKind;
  containerId?: number;
  imageId?: string;
  wstatus?: number;
  exitSignal?: boolean;
  /** container_oom: OOM kills so far; container_pids_limit: forks refused so far. */
  count?: number;
  timeMs: number;
}

type Listener = (e: AcondEvent) => void;

export class EventBus {
  #listeners = new Set<Listener>();

  /** Subscribers now (Watch streams and in-process listeners); tests check it returns to zero. */
  get subscribers(): number {
    return this.#listeners.size;
  }

  emit(e: Omit<AcondEvent, "timeMs">): void {
    const ev = { ...e, timeMs: Date.now() };
    for (const l of this.#listeners) l(ev);
  }

  subscribe(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** An async iterator of events until the signal aborts (bounded queue: slow readers lose old events). */
  async *stream(signal: AbortSignal, maxQueue = 1024): AsyncGenerator<AcondEvent> {
    const queue: AcondEvent[] = [];
    let wake: (() => void) | null = null;
    const unsubscribe = this.subscribe((e) => {
      if (queue.length >= maxQueue) queue.shift();
      queue.push(e);
      wake?.();
    });
    // Unsubscribed on abort at once, not when the generator next runs: a stream whose client
    // left may be parked at a yield that nothing resumes, and would keep queueing events.
    const onAbort = () => {
      unsubscribe();
      queue.length = 0;
      wake?.();
    };
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((r) => (wake = r));
          wake = null;
          continue;
        }
        yield queue.shift()!;
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", onAbort);
    }
  }
}
