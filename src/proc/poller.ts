/**
 * Readiness of raw fds (pipes to container processes) through one epoll instance, so that any
 * number of containers costs one worker thread, not one blocked read each. The wait runs as a
 * nonblocking FFI call; an eventfd wakes it when the set changes. The loop stops when nothing is
 * watched, so an idle daemon (or a test) has no pending call.
 */
import {
  EPOLL,
  epollCreate,
  epollCtl,
  epollWait,
  eventfd,
  readSome,
  writeSome,
} from "../sys/proc.ts";
import { log } from "../util/log.ts";

type Callback = (events: number) => void;

/** Readiness callbacks on raw fds: what container code needs of the poller (tests fake it). */
export interface FdWatcher {
  /** Calls cb with the epoll events whenever fd is ready (level-triggered) until unwatch. */
  watch(fd: number, events: number, cb: Callback): void;
  unwatch(fd: number): void;
}

export class Poller implements FdWatcher {
  #ep = -1;
  #wake = -1;
  #cbs = new Map<number, Callback>();
  #running = false;

  #init(): void {
    if (this.#ep >= 0) return;
    this.#ep = epollCreate();
    this.#wake = eventfd();
    epollCtl(this.#ep, EPOLL.CTL_ADD, this.#wake, EPOLL.IN);
  }

  /** Calls cb with the epoll events whenever fd is ready (level-triggered) until unwatch. */
  watch(fd: number, events: number, cb: Callback): void {
    this.#init();
    epollCtl(this.#ep, this.#cbs.has(fd) ? EPOLL.CTL_MOD : EPOLL.CTL_ADD, fd, events);
    this.#cbs.set(fd, cb);
    if (!this.#running) this.#loop();
  }

  unwatch(fd: number): void {
    if (!this.#cbs.delete(fd)) return;
    try {
      epollCtl(this.#ep, EPOLL.CTL_DEL, fd, 0);
    } catch { /* already closed */ }
    if (this.#cbs.size === 0) this.#kick();
  }

  #kick(): void {
    writeSome(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer));
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#cbs.size > 0) {
        const ready = await epollWait(this.#ep, -1);
        for (const [fd, ev] of ready) {
          if (fd === this.#wake) {
            readSome(this.#wake, new Uint8Array(8)); // drain the counter; its value is irrelevant
            continue;
          }
          const cb = this.#cbs.get(fd);
          if (!cb) continue;
          try {
            cb(ev);
          } catch (e) {
            log.error(`poller: callback for fd ${fd}: ${(e as Error).message}`);
            this.unwatch(fd);
          }
        }
      }
    } catch (e) {
      log.error(`poller: ${(e as Error).message}`);
    } finally {
      this.#running = false;
    }
  }
}
