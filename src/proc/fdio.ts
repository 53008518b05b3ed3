/**
 * The one read loop for raw non-blocking fds watched by the poller: read whatever is there on each
 * readiness callback, hand it on, and at EOF (or a read error such as a pty's EIO once the last
 * slave holder is gone) stop watching, close the fd and say so.
 */
import type { Sys } from "../sys/mod.ts";
import type { FdWatcher } from "./poller.ts";
import { EPOLL } from "../sys/flags.ts";

export function drainFd(
  sys: Pick<Sys, "readSome" | "close">,
  fds: FdWatcher,
  fd: number,
  bufSize: number,
  onData: (chunk: Uint8Array) => void,
  onEnd: () => void,
): void {
  const buf = new Uint8Array(bufSize);
  fds.watch(fd, EPOLL.IN, () => {
    for (;;) {
      let n: number | null;
      try {
        n = sys.readSome(fd, buf);
      } catch {
        n = 0;
      }
      if (n === null) return;
      if (n === 0) {
        fds.unwatch(fd);
        sys.close(fd);
        onEnd();
        return;
      }
      onData(buf.subarray(0, n));
    }
  });
}
