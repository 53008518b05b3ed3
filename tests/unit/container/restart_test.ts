/**
 * Restart never holds the pod lock while it waits on a process (issue 10): two concurrent
 * Restarts of one container relaunch it once, the other is refused, and whatever else takes the
 * lock (Start, Report, Finalize, the container socket) goes on meanwhile. Over the fake kernel.
 */
import { assert, assertEquals, assertRejects } from "../../helpers/assert.ts";
import { type Harness, harness } from "../../fakes/containers.ts";
import type { FakeProcess } from "../../fakes/fake_sys.ts";

/** Whether `p` has settled, without waiting for it: a few macrotasks of the fake, no clock. */
async function settledAfter(h: Harness, p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await h.settle();
  return done;
}

/** An init that handles SIGTERM (exits on it), as a restartable entry point would. */
const handlesTerm = (p: FakeProcess) => p.ignores.clear();

for (const first of ["exited", "running"] as const) {
  Deno.test(`two concurrent Restarts (${first}): one relaunches, one is refused, the lock stays free`, async () => {
    const h = harness();
    h.sys.behaviour = handlesTerm;
    const cid = await h.svc.start(h.image(), []);
    await h.settle();
    if (first === "exited") {
      h.sys.exit(h.sys.alive()[0].pid, 0);
      await h.settle();
      assertEquals((await h.svc.inspect(cid))[0].running, false);
    }
    const a = h.svc.restart(cid, 5);
    const b = h.svc.restart(cid, 5);
    const results = await Promise.allSettled([a, b]);
    const failed = results.filter((r) => r.status === "rejected");
    assertEquals(failed.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert(
      String((failed[0] as PromiseRejectedResult).reason).includes("Container already restarted"),
      String((failed[0] as PromiseRejectedResult).reason),
    );
    assertEquals(h.sys.alive().length, 1, "exactly one new run");
    // The lock is free (what Report, Finalize and the container socket take) and Start works.
    assert(await settledAfter(h, h.lock.run(() => {})), "the pod lock is held");
    const other = h.svc.start(h.image(), []);
    assert(await settledAfter(h, other), "Start hangs behind a Restart");
    await other;
    assertEquals(h.sys.problems, []);
  });
}

Deno.test("a Restart waiting for the lock gives up on its timeout; the queue moves on", async () => {
  const h = harness();
  const cid = await h.svc.start(h.image(), []);
  await h.settle();
  h.sys.exit(h.sys.alive()[0].pid, 0);
  await h.settle();
  let release!: () => void;
  const held = h.lock.run(() => new Promise<void>((r) => (release = r)));
  const behind = h.lock.run(() => "behind");
  await assertRejects(h.svc.restart(cid, 0.05), /Timeout restarting container/);
  assertEquals(h.sys.alive().length, 0, "nothing was launched");
  release();
  await held;
  assertEquals(await behind, "behind");
  assert(await settledAfter(h, h.lock.run(() => {})), "the pod lock is held");
  await h.svc.restart(cid, 5); // and a later Restart works
  assertEquals(h.sys.alive().length, 1);
});
