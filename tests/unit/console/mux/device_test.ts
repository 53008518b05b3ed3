/** The console device's output queue: bounded, oldest dropped first, flushed when writable. */
import { assertEquals, assertOk } from "../../../helpers/assert.ts";
import { ConsoleDevice, type DeviceSys, MAX_QUEUED } from "../../../../src/console/mux/device.ts";
import { EPOLL } from "../../../../src/sys/flags.ts";

function fake(o: { accept: number }) {
  const written: number[] = [];
  const watches: [number, number][] = [];
  let cb: ((ev: number) => void) | null = null;
  const sys: DeviceSys = {
    openFd: () => 7,
    close: () => {},
    readSome: () => null,
    writeSome: (_fd, b) => {
      const n = Math.min(o.accept, b.length);
      if (n === 0) return null;
      written.push(...b.subarray(0, n));
      return n;
    },
    ttySave: () => new Uint8Array(64),
    ttyRestore: () => {},
    ttyRaw: () => {},
    ttyWinsize: () => null,
  };
  const fds = {
    watch: (fd: number, ev: number, c: (ev: number) => void) => (watches.push([fd, ev]), cb = c),
    unwatch: () => {},
  };
  const dev = new ConsoleDevice("/dev/fake", sys, fds, () => {}, () => {});
  return { dev, written, watches, ready: (ev: number) => cb!(ev), o };
}

Deno.test("console device: a console that takes nothing keeps at most MAX_QUEUED, the newest", () => {
  const f = fake({ accept: 0 });
  for (let i = 0; i < 100; i++) f.dev.write(new Uint8Array(4096).fill(i));
  assertEquals(f.dev.queued, MAX_QUEUED);
  assertEquals(f.dev.dropped, 100 * 4096 - MAX_QUEUED);
  assertEquals(f.watches.at(-1)![1], EPOLL.IN | EPOLL.OUT, "waits for writability");
  // Writable again: the newest bytes come out, in order, and EPOLLOUT is no longer asked for.
  f.o.accept = 1 << 30;
  f.ready(EPOLL.OUT);
  assertEquals(f.written.length, MAX_QUEUED);
  assertEquals(f.written[0], 100 - MAX_QUEUED / 4096);
  assertEquals(f.written.at(-1), 99);
  assertEquals(f.dev.queued, 0);
  assertEquals(f.watches.at(-1)![1], EPOLL.IN);
});

Deno.test("console device: partial writes keep order", () => {
  const f = fake({ accept: 3 });
  f.dev.write(new TextEncoder().encode("hello world"));
  assertEquals(new TextDecoder().decode(Uint8Array.from(f.written)), "hello world");
  f.o.accept = 0;
  f.dev.write(new TextEncoder().encode("abc"));
  f.dev.write(new TextEncoder().encode("def"));
  assertOk(f.dev.queued === 6);
  f.o.accept = 4;
  f.ready(EPOLL.OUT);
  assertEquals(new TextDecoder().decode(Uint8Array.from(f.written)), "hello worldabcdef");
});
