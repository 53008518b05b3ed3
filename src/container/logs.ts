/** A container's logFD output: captured from its pipes into a ring, streamed by the Logs RPC. */
import { precondition } from "../errors.ts";
import { drainFd } from "../proc/fdio.ts";
import type { Registry } from "./registry.ts";
import type { LogRing } from "./ring.ts";

/** Reads each [container fd, pipe] into the ring; the ring closes when every pipe hit EOF. */
export function pumpLogs(reg: Registry, ring: LogRing, readers: [number, number][]): void {
  let open = readers.length;
  for (const [fd, r] of readers) {
    drainFd(reg.deps.sys, reg.deps.fds, r, 65536, (chunk) => ring.push(fd, chunk), () => {
      if (--open === 0) ring.close();
    });
  }
}

/** Output of the logFDs: what the ring still holds (fromStart), then new output (follow). */
export async function* logs(
  reg: Registry,
  id: number,
  fromStart: boolean,
  follow: boolean,
  signal: AbortSignal,
): AsyncGenerator<{ fd: number; data: Uint8Array; timeMs: number }> {
  const c = reg.get(id);
  const ring = c.logs;
  if (!ring) throw precondition("The image lists no logFDs");
  let next = fromStart ? 0 : ring.nextSeq;
  for (;;) {
    const chunks = ring.since(next);
    if (chunks.length) {
      for (const ch of chunks) {
        next = ch.seq + 1;
        yield { fd: ch.fd, data: ch.data, timeMs: ch.timeMs };
      }
      continue;
    }
    if (!follow || signal.aborted || (ring.closed && c.state !== "running")) return;
    // No await between the empty check and subscribing: a push cannot slip in between. The
    // exit can come after the pipes' EOF, so it wakes the reader too (exit.ts). Nothing else
    // is waited on: a reaction on `c.exited` per wait would pile up while the container runs.
    await ring.changed(signal);
  }
}
