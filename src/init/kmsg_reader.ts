/**
 * Reads /dev/kmsg record by record (one read() = one record). Non-blocking, so a non-following
 * reader stops at the end of the buffer and a following one polls without pinning a thread.
 * node:fs (Deno's own files cannot be opened non-blocking) is imported on first use: loading the
 * Node compatibility layer costs boot time.
 */
import { formatKmsgRecord } from "./kmsg.ts";
import { AcondError } from "../errors.ts";

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
  const buf = new Uint8Array(8192);
  const dec = new TextDecoder();
  try {
    while (!signal.aborted) {
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
    closeSync(fd);
  }
}
