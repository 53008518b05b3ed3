/**
 * Reads /dev/kmsg record by record (one read() = one record). Non-blocking, so a non-following
 * reader stops at the end of the buffer and a following one polls without pinning a thread.
 * node:fs (Deno's own files cannot be opened non-blocking) is imported on first use: loading the
 * Node compatibility layer costs boot time.
 */
import { AcondError } from "./errors.ts";

export async function* kernelLogLines(
  follow: boolean,
  signal: AbortSignal,
  path = "/dev/kmsg",
): AsyncGenerator<string> {
  const { closeSync, constants, openSync, readSync } = await import("node:fs");
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new AcondError("failed_precondition", `kernel log unavailable: ${(e as Error).message}`);
  }
  // Closed on abort at once, not when the generator next runs: a stream whose client left may
  // be parked at a yield that nothing resumes. `open` guards every use: the number is reused.
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    signal.removeEventListener("abort", close);
    closeSync(fd);
  };
  signal.addEventListener("abort", close);
  const buf = new Uint8Array(8192);
  const dec = new TextDecoder();
  try {
    while (open && !signal.aborted) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === "EAGAIN") {
          if (!follow) return;
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        // EPIPE: records were overwritten while we read; the next read resumes at the oldest.
        if (code === "EPIPE") continue;
        throw e;
      }
      if (n === 0) return;
      yield formatKmsgRecord(dec.decode(buf.subarray(0, n)));
    }
  } finally {
    close();
  }
}

/**
 * `prio,seq,usec,flags[,...];message` (continuation lines start with a blank) → a printable line
 * `[    1.234567] message`. Unparseable records are returned as they are.
 */
export function formatKmsgRecord(record: string): string {
  const semi = record.indexOf(";");
  if (semi < 0) return record.trimEnd();
  const head = record.slice(0, semi).split(",");
  const msg = record.slice(semi + 1).split("\n")[0];
  const usec = Number(head[2]);
  if (head.length < 3 || !Number.isFinite(usec)) return record.trimEnd();
  const secs = (usec / 1e6).toFixed(6).padStart(12, " ");
  return `[${secs}] ${msg}`;
}
