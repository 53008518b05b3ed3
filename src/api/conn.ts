/**
 * One accepted API connection and what bounds it: the deadline for a request's headers (from
 * its accept, or the end of its previous request), its cut, and the idle deadline of a request
 * body (`guardBody`). The listener loop that makes them is api/conn_limits.ts.
 */
import { log } from "../util/log.ts";
import { Deadline } from "./deadline.ts";

/**
 * The reason a request's own signal aborts when its response is done or its client left: one
 * object for every request. `abort()` without a reason builds a DOMException (with a stack)
 * each time: DOMException was 8 % of the daemon's CPU under h2load (docs/api.md, "gRPC"), two
 * of the four per request ours (the others are Deno's and connect-es's). Same class and name as
 * the default reason, so handlers see no change.
 */
export const REQUEST_ENDED = new DOMException("The request ended", "AbortError");

/** What Deno's per-connection HTTP server gives back (conn_limits.ts runs it). */
export interface HttpConnServer {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** One accepted connection and what bounds it. */
export class Conn {
  inFlight = 0;
  /** Descriptors it holds (api/conn_limits.ts counts them against the listener's cap). */
  fds = 1;
  done = false;
  cutting = false;
  #abort = new AbortController();
  /** The header deadline: running while no request is in flight. */
  #headers: Deadline;
  server: HttpConnServer | undefined;

  constructor(readonly id: number, headerTimeoutMs: number) {
    this.#headers = new Deadline(headerTimeoutMs, () => {
      if (this.done) return;
      log.debug(`connection ${this.id}: no request headers within ${headerTimeoutMs} ms`);
      this.cut();
    });
    this.#headers.start();
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  requestStarted(): void {
    this.inFlight++;
    this.#headers.clear();
  }

  requestEnded(): void {
    if (--this.inFlight === 0 && !this.done) this.#headers.start();
  }

  /**
   * Closes the connection now, whatever is in flight (its requests' signals abort). Called from
   * a task of its own (a timer, the accept loop, shutdown after a timer): Deno's abort listener
   * must not run after the connection's resource is gone, and by then `done` is set (every
   * microtask of the close has run).
   */
  cut(): void {
    this.cutting = true;
    this.#headers.stop();
    if (!this.done) this.#abort.abort();
  }

  ended(): void {
    this.done = true;
    this.#headers.stop();
  }
}

/**
 * A request body that may not pause longer than `idleMs` while it is being read; a stall errors
 * the body (deadline_exceeded for the handler) and calls `onStall` (the connection is cut).
 */
export function guardBody(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  onStall: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let stalled = false;
      timer = setTimeout(() => {
        stalled = true;
        reader.cancel("stalled").catch(() => {});
        onStall();
      }, idleMs);
      try {
        const r = await reader.read();
        if (stalled) throw new Error("stalled");
        if (r.done) c.close();
        else c.enqueue(r.value);
      } catch (e) {
        c.error(
          stalled ? new BodyStalledError(`request body stalled for more than ${idleMs} ms`) : e,
        );
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      clearTimeout(timer);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

export class BodyStalledError extends Error {
  override name = "BodyStalledError";
}
