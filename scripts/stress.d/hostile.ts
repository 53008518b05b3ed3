/**
 * Hostile containers, each next to a bystander container that must keep working:
 *   crash-loop:     an entry point that exits at once, restarted over and over (sequentially);
 *   restart-race:   two concurrent Restarts of an exited container (issue 10, item 3);
 *   fork-bomb:      a fork bomb in one container (item 5);
 *   stop-all:       `kill -STOP -1` inside one container (item 4);
 *   flood:          one container writing to its logged stdout as fast as it can.
 * The fork bomb runs only where the dev daemon enforces its containers' pids limit (its boot
 * event's `limits.enforced` has "pids": a cgroup v2 pids controller); elsewhere it is reported
 * as not run, with the reason (tests/e2e/limits_test.ts proves the limit under QEMU). It also
 * runs inside a pids cgroup (v1, /sys/fs/cgroup/pids, when there is one) of 1500 around the
 * daemon, so that it exhausts the daemon's share and never the shared machine's.
 * After each: the bystander's Exec answers with its output, a new container starts, an
 * Exec into the hostile container answers within its timeout (an error is fine), the daemon's
 * RSS stays under 256 MiB above where it started, and the consistency oracle holds.
 */
import { Oracle } from "./oracle.ts";
import type { Failure, Tally } from "./tally.ts";
import { call, cleanupDir, dec, describe, HANG_MS, procFigures, sleep, World } from "./world.ts";

export interface Hostile {
  name: string;
  /** Makes one container hostile; returns its id. */
  provoke(w: World): Promise<number>;
}

async function exec(w: World, id: number, command: string, args: string[] = [], timeout = 5n) {
  return await call(
    (signal) =>
      w.c.exec({ containerId: id, command, arguments: args, envs: ["PATH=/bin"], timeout }, {
        signal,
      }),
    Number(timeout) * 1000 + HANG_MS,
  );
}

async function restartLoop(w: World): Promise<number> {
  const img = await w.addImage({ entrypoint: ["/bin/false"] });
  const id = (await w.c.start({ imageId: img })).containerId;
  for (let i = 0; i < 15; i++) {
    await sleep(30);
    await call(
      (signal) => w.c.restart({ containerId: id, timeout: 2n }, { signal }),
      2000 + HANG_MS,
    );
  }
  return id;
}

export const HOSTILE: Hostile[] = [
  { name: "crash-loop", provoke: restartLoop },
  {
    // Two Restarts of an exited container whose new run lasts: neither may hold the state lock
    // while it waits on a process (the bystander checks below run while they are under way).
    name: "restart-race",
    async provoke(w) {
      const id = (await w.c.start({ imageId: await w.plainImage() })).containerId;
      await w.c.kill({ containerId: id, signalNum: 9 });
      for (let i = 0; i < 100; i++) {
        if (!(await w.c.inspect({ containerId: id })).info[0]?.running) break;
        await sleep(50);
      }
      for (let i = 0; i < 2; i++) {
        call((signal) => w.c.restart({ containerId: id, timeout: 2n }, { signal }), 2000 + HANG_MS);
      }
      await sleep(500);
      return id;
    },
  },
  {
    name: "fork-bomb",
    async provoke(w) {
      const id = (await w.c.start({ imageId: await w.plainImage() })).containerId;
      await exec(w, id, "Sh", ["(/lib/acon/entrypoint.d/Bomb >/dev/null 2>&1 &) ; echo lit"]);
      await sleep(3000);
      return id;
    },
  },
  {
    name: "stop-all",
    async provoke(w) {
      const id = (await w.c.start({ imageId: await w.plainImage() })).containerId;
      await exec(w, id, "StopAll", [], 3n);
      return id;
    },
  },
  {
    name: "flood",
    async provoke(w) {
      const img = await w.addImage({
        entrypoint: ["/lib/acon/entrypoint.d/Flood"],
        logFDs: [1, 2],
      });
      const id = (await w.c.start({ imageId: img })).containerId;
      await sleep(5000);
      return id;
    },
  },
];

const PIDS = "/sys/fs/cgroup/pids";

/** Why the daemon does not enforce pids limits (from its boot event), or "" when it does. */
async function pidsNotEnforced(w: World): Promise<string> {
  const log = await w.c.getEventLog({});
  const boot = log.lines.find((l) => l.startsWith("acond Boot "));
  if (!boot) return "no boot event in the event log";
  const enforced: unknown = JSON.parse(boot.slice("acond Boot ".length)).limits?.enforced;
  if (!Array.isArray(enforced)) return "the boot event records no enforced limits";
  return enforced.includes("pids")
    ? ""
    : `no cgroup v2 pids controller here (boot event: enforced ${JSON.stringify(enforced)})`;
}

function existsDir(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

/** Puts the daemon (and so every container it starts) in a pids cgroup of `max`; its path. */
function confine(pid: number, max: number): string {
  const dir = `${PIDS}/acond-stress-${pid}`;
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(`${dir}/pids.max`, String(max));
  Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(pid));
  return dir;
}

/** Moves the daemon back out, kills what is left (each process by its id), removes the cgroup. */
async function release(dir: string, daemon: number): Promise<void> {
  try {
    Deno.writeTextFileSync(`${PIDS}/cgroup.procs`, String(daemon));
  } catch { /* gone */ }
  for (let i = 0; i < 100; i++) {
    const pids = Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n").filter(Boolean);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        Deno.kill(Number(p), "SIGKILL");
      } catch { /* gone */ }
    }
    await sleep(100);
  }
  try {
    Deno.removeSync(dir);
  } catch (e) {
    console.error(`stress: could not remove ${dir}: ${(e as Error).message}`);
  }
}

export async function runHostile(t: Tally, seed: number, checks: string[]): Promise<void> {
  for (const h of HOSTILE) {
    if (!checks.includes(h.name)) continue;
    const t0 = Date.now();
    const w = await World.create();
    const victim = await Deno.makeTempDir({ prefix: "acond-stress-victim-" });
    const oracle = new Oracle(w, seed, victim);
    await oracle.baseline();
    if (h.name === "fork-bomb") {
      const why = await pidsNotEnforced(w);
      if (why) {
        t.notRun(
          h.name,
          `${why}: the dev daemon cannot hold a fork bomb to a pids limit on this host; ` +
            "tests/e2e/limits_test.ts proves it under QEMU (PID 1, cgroup v2)",
        );
        await w.stop().catch(() => {});
        await cleanupDir(w.dir);
        await Deno.remove(victim, { recursive: true }).catch(() => {});
        continue;
      }
    }
    t.row(h.name).inputs++;
    let cgroup = "";
    // The whole check is bounded: a jammed daemon (a request holding the state lock) counts as
    // a hang and is killed, rather than stalling the suite.
    const budget = 6 * HANG_MS + 30000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const overrun = new Promise<"overrun">((r) => timer = setTimeout(() => r("overrun"), budget));
    try {
      if (h.name === "fork-bomb" && existsDir(PIDS)) cgroup = confine(w.pid, 1500);
      // After an overrun the check may still run on: what it finds then is not counted.
      let counting = true;
      const fail = (kind: Failure, msg: string) => counting && t.fail(h.name, kind, msg);
      const done = await Promise.race([check(fail, h, w, oracle), overrun]);
      if (done === "overrun") {
        counting = false;
        t.fail(h.name, "hangs", `the check did not finish in ${budget} ms (the daemon is jammed)`);
        if (cgroup) await release(cgroup, w.pid);
        cgroup = "";
        await w.kill9();
      }
    } catch (err) {
      t.fail(h.name, "unearned", `the check's own calls failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      if (cgroup) await release(cgroup, w.pid); // the bomb first: the daemon's stop waits for it
      await w.stop().catch(() => {});
      await cleanupDir(w.dir);
      await Deno.remove(victim, { recursive: true }).catch(() => {});
    }
    console.error(`containers: ${h.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

async function check(
  fail: (kind: Failure, msg: string) => void,
  h: Hostile,
  w: World,
  oracle: Oracle,
): Promise<"done"> {
  const bystander = await w.ensureRunner();
  const rss0 = procFigures(w.pid)?.rssKiB ?? 0;
  const bad = await h.provoke(w);
  // The bystander still works, and says so.
  const e = await exec(w, bystander, "Echo", ["alive"]);
  if (!e.ok) fail("hang" in e ? "hangs" : "unearned", `bystander Exec: ${describe(e)}`);
  else if (dec.decode(e.value.stdout) !== "alive\n") {
    fail("wrong", `bystander Exec said ${JSON.stringify(dec.decode(e.value.stdout))}`);
  }
  // Other requests are served meanwhile (no request holds the state lock while it waits).
  const r = await call((signal) =>
    w.c.report({ nonceLo: 1n, nonceHi: 2n, requestType: 0 }, { signal })
  );
  if (!r.ok) {
    fail("hang" in r ? "hangs" : "unearned", `Report next to it: ${describe(r)}`);
  }
  // A new container starts, and its exit is seen (reaping works).
  const img = await call(() => w.addImage({ entrypoint: ["/bin/true"] }));
  if (!img.ok) {
    fail("hang" in img ? "hangs" : "unearned", `AddManifest: ${describe(img)}`);
  }
  const s = img.ok ? await call((signal) => w.c.start({ imageId: img.value }, { signal })) : null;
  if (s && !s.ok) {
    fail("hang" in s ? "hangs" : "unearned", `Start next to it: ${describe(s)}`);
  } else if (s && s.ok) {
    const end = Date.now() + HANG_MS;
    for (;;) {
      const i = await call((signal) =>
        w.c.inspect({ containerId: s.value.containerId }, { signal })
      );
      if (i.ok && i.value.info[0] && !i.value.info[0].running) break;
      if (Date.now() > end) {
        fail("hangs", `a container's exit next to it is not reaped in ${HANG_MS} ms`);
        break;
      }
      await sleep(100);
    }
  }
  // The hostile container itself: an Exec answers in time (an error is fine).
  const x = await exec(w, bad, "Echo", ["x"], 2n);
  if (!x.ok && "hang" in x) fail("hangs", `Exec into the hostile container: no answer`);
  const rss1 = procFigures(w.pid)?.rssKiB ?? 0;
  if (rss1 - rss0 > 256 * 1024) {
    fail("leaks", `RSS ${(rss0 / 1024).toFixed(0)} → ${(rss1 / 1024).toFixed(0)} MiB`);
  }
  await call((signal) => w.c.kill({ containerId: bad, signalNum: -9 }, { signal }));
  await sleep(300);
  const problems = await oracle.check();
  if (!await w.alive()) fail("crashes", w.d.stderr().split("\n").slice(-5).join(" | "));
  else if (problems.length) fail("consistency", problems.join("; "));
  return "done";
}
