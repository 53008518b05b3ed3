/**
 * Daemon-wide caps on open server streams, per RPC. Connection caps bound connections, not the
 * streams inside them: over h2c one connection carries as many concurrent streams as the client
 * opens, and each KernelLog stream holds a /dev/kmsg descriptor, each Watch a queue of events,
 * each Logs follower a waiter. A stream beyond its RPC's cap is refused with resource_exhausted
 * before it takes anything; a slot is given back when the stream ends in any way, including the
 * client leaving while the stream is parked at a yield that nothing resumes (hence the abort
 * listener, not only `finally`).
 */
import { AcondError } from "../errors.ts";

export interface StreamCaps {
  kernelLog: number;
  watch: number;
  logs: number;
}

export const DEFAULT_STREAM_CAPS: StreamCaps = { kernelLog: 16, watch: 64, logs: 128 };

/** Open streams of one RPC, at most `max`. */
export class StreamSlots {
  #open = 0;
  constructor(readonly rpc: string, readonly max: number) {}

  get open(): number {
    return this.#open;
  }

  /** Takes a slot or throws resource_exhausted; the returned function gives it back (once). */
  take(): () => void {
    if (this.#open >= this.max) {
      throw new AcondError(
        "resource_exhausted",
        `too many ${this.rpc} streams open (${this.max}, the daemon's cap); close one and retry`,
      );
    }
    this.#open++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#open--;
    };
  }

  /** `source` as a stream that holds one slot from its first step until it ends or `signal` aborts. */
  async *hold<T>(signal: AbortSignal, source: () => AsyncIterable<T>): AsyncGenerator<T> {
    const give = this.take();
    signal.addEventListener("abort", give, { once: true });
    try {
      yield* source();
    } finally {
      signal.removeEventListener("abort", give);
      give();
    }
  }
}

/** One daemon's slots for every capped stream RPC. */
export interface StreamLimits {
  kernelLog: StreamSlots;
  watch: StreamSlots;
  logs: StreamSlots;
}

export function streamLimits(caps: Partial<StreamCaps> = {}): StreamLimits {
  const c = { ...DEFAULT_STREAM_CAPS, ...caps };
  return {
    kernelLog: new StreamSlots("KernelLog", c.kernelLog),
    watch: new StreamSlots("Watch", c.watch),
    logs: new StreamSlots("Logs", c.logs),
  };
}
