import { assertEquals } from "../../helpers/assert.ts";
import { decodeWaitStatus, type ExitStatus, Reaper } from "../../../src/proc/reaper.ts";

Deno.test("wait status: exit code or signal, never both", () => {
  assertEquals(decodeWaitStatus(0), { code: 0, signal: null });
  assertEquals(decodeWaitStatus(7 << 8), { code: 7, signal: null });
  assertEquals(decodeWaitStatus(255 << 8), { code: 255, signal: null });
  assertEquals(decodeWaitStatus(9), { code: null, signal: 9 });
  assertEquals(decodeWaitStatus(11 | 0x80), { code: null, signal: 11 }); // core dumped
});

/** A kernel of pids: `exit` queues a status (reapOne takes it), `live` is what childExists sees. */
function kernel() {
  const queue: { pid: number; status: number }[] = [];
  const live = new Set<number>();
  let onChild = () => {};
  const sys = {
    reapOne: () => queue.shift() ?? null,
    setChildSubreaper: () => {},
    childExists: (pid: number) => live.has(pid) || queue.some((e) => e.pid === pid),
  };
  const reaper = new Reaper(sys, { onChildSignal: (cb) => (onChild = cb), pollMs: 0 });
  reaper.start();
  return {
    reaper,
    live,
    /** The process exits with `code` and SIGCHLD arrives. */
    exit(pid: number, code: number) {
      live.delete(pid);
      queue.push({ pid, status: code << 8 });
      onChild();
    },
  };
}

/** A creation that finishes when told, as the shim's worker thread does. */
function pending() {
  let done!: (pid: number) => void;
  const p = new Promise<number>((r) => (done = r));
  return { create: () => p, done };
}

Deno.test("reaper: a spawn in flight does not pause reaping (another child's exit is seen)", async () => {
  const k = kernel();
  k.live.add(10);
  const first = await k.reaper.spawn(() => Promise.resolve(10));
  const slow = pending();
  const spawning = k.reaper.spawn(slow.create); // stuck, as a stopped child's spawn would be
  let seen: ExitStatus | null = null;
  first.exit.then((s) => (seen = s));
  k.exit(10, 3);
  await Promise.resolve();
  await Promise.resolve();
  assertEquals(seen, { code: 3, signal: null });
  k.live.add(11);
  slow.done(11);
  await spawning;
});

Deno.test("reaper: a child reaped before its spawn returns still gets its status", async () => {
  const k = kernel();
  const slow = pending();
  const spawning = k.reaper.spawn(slow.create);
  k.live.add(20);
  k.exit(20, 7); // reaped while the creation has not returned yet
  slow.done(20);
  const { pid, exit } = await spawning;
  assertEquals(pid, 20);
  assertEquals(await exit, { code: 7, signal: null });
  assertEquals(k.reaper.kept, 0, "nothing kept once no spawn is in flight");
});

Deno.test("reaper: pid reuse during a spawn: an older process's status is never the child's", async () => {
  const k = kernel();
  const slow = pending();
  const spawning = k.reaper.spawn(slow.create);
  k.live.add(30);
  k.exit(30, 1); // an orphan with pid 30, reaped during the spawn
  k.live.add(30); // the child then gets pid 30, and runs
  slow.done(30);
  const { exit } = await spawning;
  let got: ExitStatus | null = null;
  exit.then((s) => (got = s));
  await Promise.resolve();
  assertEquals(got, null, "the orphan's status was handed to the child");
  k.exit(30, 5);
  assertEquals(await exit, { code: 5, signal: null });
});

Deno.test("reaper: statuses kept for spawns go once no spawn could claim them", async () => {
  const k = kernel();
  const a = pending();
  const spawnA = k.reaper.spawn(a.create);
  for (let pid = 40; pid < 45; pid++) {
    k.live.add(pid);
    k.exit(pid, 0); // orphans while A is in flight
  }
  assertEquals(k.reaper.kept, 5);
  const b = pending();
  const spawnB = k.reaper.spawn(b.create); // began after those exits: it cannot claim them
  k.live.add(50);
  a.done(50);
  await spawnA;
  assertEquals(k.reaper.kept, 0, "only B is in flight, and those are older than B");
  k.live.add(51);
  b.done(51);
  await spawnB;
  assertEquals(k.reaper.kept, 0);
});
