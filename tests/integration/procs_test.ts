/**
 * Hostile containers and clients against the real dist/acond --dev (issue 10): concurrent
 * Restarts do not jam the pod lock; a container that stops every process it can see does not
 * freeze its Execs, the reaper or other containers; a pty Exec needs interactive mode.
 */
import { Code } from "@connectrpc/connect";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { code, image, info, sh, waitExited, worldTest } from "../helpers/containers.ts";
import { Event_Kind } from "../../src/gen/acon_pb.ts";

/** A bound on every call, so that a daemon that hangs fails the test instead of hanging it. */
const BOUND = { timeoutMs: 30000 };

const procsTest = worldTest;

procsTest(
  "two concurrent Restarts: one relaunches, one is refused; the lock stays free",
  async (w) => {
    const img = await image(w);
    const id = (await w.c.start({ imageId: img }, BOUND)).containerId;
    await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
    await waitExited(w, id);
    const restarts = [1, 2].map(() => w.c.restart({ containerId: id, timeout: 5n }, BOUND));
    const settled = Promise.allSettled(restarts);
    // Queued behind the Restarts on the pod lock: they answer.
    const report = w.c.report({ nonceLo: 1n, nonceHi: 2n, requestType: 0 }, BOUND);
    const other = w.c.start({ imageId: img }, BOUND);
    await Promise.allSettled([report, other]);
    const results = await settled;
    // Both Restarts read the exited run; the one that gets the lock second is refused. (On a busy
    // machine the second may arrive only after the first has relaunched: then it is an ordinary
    // Restart of a running container, and succeeds. Either way nothing waits under the lock.)
    assert(results.some((r) => r.status === "fulfilled"), "one Restart relaunched it");
    for (const r of results) {
      if (r.status === "fulfilled") continue;
      assertEquals(await code(Promise.reject(r.reason)), [
        Code.FailedPrecondition,
        "Container already restarted",
      ]);
    }
    assert((await report).data.length > 0);
    const second = (await other).containerId;
    assertEquals((await info(w, id)).running, true);
    // A Restart of the running one with a timeout the init ignores: refused on its timeout.
    const stubborn = await image(w, {
      entrypoint: ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
      signals: [15, 9],
    });
    const s = (await w.c.start({ imageId: stubborn }, BOUND)).containerId;
    assertEquals(await code(w.c.restart({ containerId: s, timeout: 1n }, BOUND)), [
      Code.DeadlineExceeded,
      "Timeout restarting container",
    ]);
    for (const c of [id, second, s]) await w.c.kill({ containerId: c, signalNum: 9 }, BOUND);
    await waitExited(w, s);
  },
);

for (const interactive of [false, true]) {
  procsTest(
    `pty Exec (timeout 0) with interactive ${interactive}: ${
      interactive ? "a pty" : "refused"
    }; the boot event says so`,
    async (w) => {
      const boot = (await w.c.getEventLog({}, BOUND)).lines.find((l) =>
        l.startsWith("acond Boot ")
      );
      assertMatch(boot ?? "", new RegExp(`"interactive":${interactive}[,}]`));
      const id = (await w.c.start({ imageId: await image(w) }, BOUND)).containerId;
      const pty = w.c.exec({
        containerId: id,
        command: "Sh",
        arguments: ["sleep 1"],
        timeout: 0n,
      }, BOUND);
      if (interactive) {
        await pty;
        assertEquals((await info(w, id)).sessions.length, 1);
      } else {
        const [cd, msg] = await code(pty);
        assertEquals(cd, Code.FailedPrecondition);
        assertMatch(msg, /^interactive mode is off: .*--interactive/);
        assertEquals((await info(w, id)).sessions.length, 0);
        // A batch Exec is not affected.
        assertEquals((await sh(w, id, "echo ok")).out, "ok\n");
      }
      await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
      await waitExited(w, id);
    },
    interactive ? { args: ["--interactive"] } : {},
  );
}

procsTest(
  "a container that stops every process it sees: its Execs fail in time, others live on",
  async (w) => {
    const b = (await w.c.start({ imageId: await image(w) }, BOUND)).containerId;
    // A's init (busybox sh, whose kill is a builtin: PID 1 itself is spared) stops every other
    // process of its PID namespace, over and over: an Exec'd child is caught before it execs.
    const stopper = await image(w, {
      entrypoint: ["/bin/sh", "-c", "while :; do kill -STOP -1 2>/dev/null; done"],
    });
    const a = (await w.c.start({ imageId: stopper }, BOUND)).containerId;
    const cut = new AbortController(); // a Watch left open would hold up the daemon's stop
    const watch = (async () => {
      for await (const ev of w.c.watch({}, { timeoutMs: 60000, signal: cut.signal })) {
        if (ev.containerId === b && ev.kind === Event_Kind.CONTAINER_EXITED) return ev;
      }
      return null;
    })();
    // Execs into A while it stops everything: each one ends with an answer of the daemon's (not
    // the client's bound), the timeout's or, if one slipped through to exec, its output.
    const execs = [1, 2, 3].map(() =>
      w.c.exec({ containerId: a, command: "Echo", arguments: ["hi"], timeout: 3n }, BOUND)
        .then(() => "ok", (e) => `${e.code}:${e.rawMessage}`)
    );
    // One that runs for 2 s is stopped for certain (before or after its exec, whatever the
    // scheduling of a loaded machine): it must end with the timeout, not hang.
    const slow = w.c.exec({
      containerId: a,
      command: "Sh",
      arguments: ["sleep 2; echo late"],
      envs: ["PATH=/bin"],
      timeout: 3n,
    }, BOUND).then(() => "ok", (e) => `${e.code}:${e.rawMessage}`);
    // Meanwhile B works and its exit is seen (reaping never waits for a spawn).
    assertEquals((await sh(w, b, "echo alive")).out, "alive\n");
    await w.c.kill({ containerId: b, signalNum: 9 }, BOUND);
    const gone = await waitExited(w, b);
    assertEquals([gone.wstatus, gone.exitSignal], [9, true]);
    assertEquals((await watch)?.wstatus, 9);
    cut.abort();
    const answers = await Promise.all(execs);
    for (const r of answers) {
      assert(
        r === "ok" || r === `${Code.DeadlineExceeded}:Timeout executing command`,
        `an Exec into the stopping container answered ${r}`,
      );
    }
    assertEquals(await slow, `${Code.DeadlineExceeded}:Timeout executing command`);
    // A itself is still managed: Kill works and its exit is seen.
    await w.c.kill({ containerId: a, signalNum: 9 }, BOUND);
    await waitExited(w, a);
    const c = (await w.c.start({ imageId: await image(w) }, BOUND)).containerId;
    assertEquals((await sh(w, c, "echo fine")).out, "fine\n");
    await w.c.kill({ containerId: c, signalNum: 9 }, BOUND);
  },
);
