/**
 * Whole Start, Restart, Exec, Kill and stop sequences over the fake kernel, with a failure
 * injected at every step a successful run takes. Whatever fails, nothing is left half-done: no
 * mount, no fd, no process, no attestation socket, no container directory, no table entry; and
 * what succeeds is whole.
 */
import { assert, assertEquals, assertRejects } from "../../helpers/assert.ts";
import { type Harness, harness, type Snapshot } from "../../fakes/containers.ts";
import type { CallKind, FakeProcess, FakeSys } from "../../fakes/fake_sys.ts";
import { ERRNO } from "../../../src/sys/errors.ts";
import type { Manifest } from "../../../src/state.ts";
import type { ExecRequest } from "../../../src/container/exec.ts";

/** Calls that cannot fail in the real shim (close ignores its result) or only read state. */
const NEVER_FAIL = new Set<CallKind>(["close"]);

const EMPTY: Snapshot = {
  mounts: [],
  fds: [],
  alive: [],
  sockets: [],
  containerDirs: [],
  table: 0,
  cgroups: [],
};

/** Every (kind, nth) step of the calls from index `from` on: one failure point each. */
function steps(sys: FakeSys, from = 0): { kind: CallKind; nth: number }[] {
  const seen = new Map<CallKind, number>();
  const out: { kind: CallKind; nth: number }[] = [];
  for (const { kind } of sys.calls.slice(from)) {
    const n = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, n);
    if (!NEVER_FAIL.has(kind)) out.push({ kind, nth: n });
  }
  return out;
}

/** Exec'd processes print and exit at once; container inits run until told otherwise. */
function execPrintsAndExits(p: FakeProcess, sys: FakeSys): void {
  if (typeof p.target !== "number") return;
  setTimeout(() => {
    sys.print(p, 1, "out");
    sys.print(p, 2, "err");
    sys.exit(p.pid, 0);
  }, 0);
}

async function startOne(h: Harness, m: Partial<Manifest> = {}): Promise<number> {
  const id = await h.svc.start(h.image(m), []);
  await h.settle();
  return id;
}

const VARIANTS: [string, Partial<Manifest>][] = [
  ["read-only root, logFDs", {}],
  ["writableFS with extra uids", { writableFS: true, uids: [1000], logFDs: [1] }],
  ["noRestart, no logFDs", { noRestart: true, logFDs: [] }],
];

for (const [name, m] of VARIANTS) {
  Deno.test(`Start (${name}): a failure at any step leaves nothing behind`, async () => {
    const probe = harness();
    await startOne(probe, m);
    const all = steps(probe.sys);
    const whole = probe.snapshot();
    assertEquals(whole.mounts.length, 1);
    assertEquals(whole.alive.length, 1);
    assertEquals(whole.table, 1);
    let refused = 0;
    for (const { kind, nth } of all) {
      const h = harness();
      const img = h.image(m);
      h.sys.failOn(kind, nth, ERRNO.EIO);
      const ok = await h.svc.start(img, []).then(() => true, () => false);
      await h.settle();
      const at = `${kind} #${nth}`;
      if (ok) {
        assertEquals(h.snapshot(), whole, `Start succeeded with ${at} failing, but not whole`);
      } else {
        refused++;
        assertEquals(h.snapshot(), EMPTY, `Start failed at ${at} and left this behind`);
        assertEquals(h.events.length, 0, `an event for a Start that failed at ${at}`);
      }
      assertEquals(h.sys.problems, [], at);
    }
    // Not vacuous: the steps that must refuse did (mount, spawn, pipe or /dev/null, mkdir).
    for (const k of ["mount", "spawnContainer", "openFd", "mkdir"] as CallKind[]) {
      assert(all.some((s) => s.kind === k), `a Start makes a ${k} call`);
    }
    assert(refused >= 6, `only ${refused} of ${all.length} failures refused the Start`);
  });
}

Deno.test("Start: the attestation socket failing to open leaves nothing behind", async () => {
  const h = harness();
  h.sockets.failOpen = true;
  await assertRejects(h.svc.start(h.image(), []));
  await h.settle();
  assertEquals(h.snapshot(), EMPTY);
});

Deno.test("exit of a container init: its root unmounted; noRestart drops all it had", async () => {
  const h = harness();
  const keep = await startOne(h);
  const drop = await startOne(h, { noRestart: true });
  const [pKeep, pDrop] = (await h.svc.inspect(0)).map((i) => i.pid);
  h.sys.exit(pKeep, 3);
  h.sys.exit(pDrop, 0);
  await h.settle();
  const s = h.snapshot();
  assertEquals(s.mounts, []);
  assertEquals(s.alive, []);
  assertEquals(s.sockets, [keep], "the restartable container keeps its socket");
  assertEquals(s.containerDirs, [`/state/containers/${keep}`]);
  // The kept namespaces of the restartable one are all the daemon still holds.
  assertEquals(s.fds.length, 2);
  const infos = await h.svc.inspect(0);
  assertEquals(infos.map((i) => [i.containerId, i.running, i.wstatus]), [[keep, false, 3], [
    drop,
    false,
    0,
  ]]);
  assertEquals(h.events.filter((e) => e.kind === "container_exited").length, 2);
});

/**
 * Replays an Exec (`req` without its container id) once per step a successful one takes, each time
 * with that step failing, in a fresh harness with one running container; after each, the state is
 * what it was before the Exec. Returns how many of the failures refused the Exec.
 */
async function execWithEachStepFailing(
  probe: Harness,
  from: number,
  req: Omit<ExecRequest, "containerId">,
): Promise<number> {
  let refused = 0;
  for (const { kind, nth } of steps(probe.sys, from)) {
    const h = harness();
    h.sys.behaviour = execPrintsAndExits;
    const id = await startOne(h);
    const mark = h.snapshot();
    h.sys.failOn(kind, nth, ERRNO.EIO);
    const ok = await h.svc.exec({ ...req, containerId: id }).then(() => true, () => false);
    await h.settle();
    if (!ok) refused++;
    assertEquals(h.snapshot(), mark, `Exec with ${kind} #${nth} failing changed the state`);
    assertEquals(h.hub.list(), [], `${kind} #${nth}: a terminal stayed`);
    assertEquals(h.sys.problems, [], `${kind} #${nth}`);
  }
  return refused;
}

/** A harness with one running container whose Exec'd processes print and exit. */
async function withContainer(): Promise<{ probe: Harness; cid: number; before: Snapshot }> {
  const probe = harness();
  probe.sys.behaviour = execPrintsAndExits;
  const cid = await startOne(probe);
  return { probe, cid, before: probe.snapshot() };
}

Deno.test("Exec (batch): output captured; a failure at any step leaks nothing", async () => {
  const { probe, cid, before } = await withContainer();
  const from = probe.sys.calls.length;
  const req = {
    command: "Hello",
    arguments: ["a"],
    envs: ["X=1"],
    stdin: new TextEncoder().encode("in"),
    timeoutSec: 5,
    captureSize: 0,
  };
  const out = await probe.svc.exec({ ...req, containerId: cid });
  assertEquals(new TextDecoder().decode(out.stdout), "out");
  assertEquals(new TextDecoder().decode(out.stderr), "err");
  await probe.settle();
  assertEquals(probe.snapshot(), before);
  const all = steps(probe.sys, from);
  assert(all.some((s) => s.kind === "spawnInContainer") && all.some((s) => s.kind === "pipe"));
  const refused = await execWithEachStepFailing(probe, from, req);
  assert(refused >= 4, `only ${refused} of ${all.length} failures refused the Exec`);
});

Deno.test("Exec with a pty (timeout 0): session listed until exit; failures leak nothing", async () => {
  const { probe, cid, before } = await withContainer();
  const from = probe.sys.calls.length;
  const req = {
    command: "Shell",
    arguments: [],
    envs: [],
    stdin: new Uint8Array(),
    timeoutSec: 0,
    captureSize: 0,
  };
  await probe.svc.exec({ ...req, containerId: cid });
  assertEquals(probe.hub.sessions(cid).length, 1);
  await probe.settle();
  assertEquals(probe.hub.sessions(cid).length, 0, "the session goes when its process has gone");
  assertEquals(probe.hub.list(), [], "and so does its terminal");
  assertEquals(probe.snapshot(), before);
  const refused = await execWithEachStepFailing(probe, from, req);
  assert(refused >= 2, `only ${refused} failures refused the pty Exec`);
});

Deno.test("Exec into an exited container, or a missing entry point, is refused cleanly", async () => {
  const h = harness();
  const cid = await startOne(h);
  const req = {
    containerId: cid,
    command: "Hello",
    arguments: [],
    envs: [],
    stdin: new Uint8Array(),
    timeoutSec: 5,
    captureSize: 0,
  };
  const mark = h.snapshot();
  h.sys.failOn("spawnInContainer", 1, ERRNO.ENOENT, 17 /* execve */);
  await assertRejects(h.svc.exec(req), /No entry point Hello/);
  assertEquals(h.snapshot(), mark);
  h.sys.exit((await h.svc.inspect(cid))[0].pid, 0);
  await h.settle();
  await assertRejects(h.svc.exec(req), /Container terminated/);
});

Deno.test("Restart: a failure at any step leaves the container exited and whole", async () => {
  const running = (p: FakeProcess) => p.ignores.clear(); // an init that handles SIGTERM
  const probe = harness();
  probe.sys.behaviour = running;
  const cid = await startOne(probe);
  const from = probe.sys.calls.length;
  await probe.svc.restart(cid, 5);
  await probe.settle();
  const whole = probe.snapshot();
  assertEquals(whole.alive.length, 1);
  assertEquals(whole.mounts, [], "a Restart joins the kept mount namespace");
  assertEquals((await probe.svc.inspect(cid))[0].running, true);
  for (const { kind, nth } of steps(probe.sys, from)) {
    const h = harness();
    h.sys.behaviour = running;
    const id = await startOne(h);
    const first = h.sys.alive()[0].pid;
    h.sys.failOn(kind, nth, ERRNO.EIO);
    const ok = await h.svc.restart(id, 5).then(() => true, () => false);
    await h.settle();
    const s = h.snapshot();
    const [info] = await h.svc.inspect(id);
    if (ok && kind === "umount") {
      // The old run's root could not be unmounted: it stays until the next exit, which retries.
      assertEquals(s.mounts.length, 1);
      h.sys.exit(s.alive[0], 0);
      await h.settle();
      assertEquals(h.snapshot().mounts, [], "the next exit unmounts the root");
    } else if (ok) {
      assertEquals(s, whole, `Restart with ${kind} #${nth} failing succeeded, not whole`);
    } else {
      assertEquals(info.running, s.alive.length === 1, `${kind} #${nth}: state vs processes`);
      // The first run's root stays mounted while that run goes on (the kill failed), only then.
      const firstRunGoesOn = info.running && s.alive[0] === first;
      assertEquals(s.mounts.length, firstRunGoesOn ? 1 : 0, `${kind} #${nth}: mounts`);
      assertEquals(s.table, 1);
      // Only the kept namespaces (and, if still running, the log pipes) stay open.
      assert(
        s.fds.length === 2 || (info.running && s.fds.length === 4),
        `${kind} #${nth}: ${s.fds}`,
      );
    }
    assertEquals(h.sys.problems, []);
  }
});

Deno.test("Restart: its timeout bounds the wait for an init that ignores the signal", async () => {
  const h = harness();
  const cid = await startOne(h); // the fake init ignores SIGTERM, like a real PID 1
  await assertRejects(h.svc.restart(cid, 0.05), /Timeout restarting container/);
  assertEquals((await h.svc.inspect(cid))[0].running, true);
});

Deno.test("Kill: allowed signals only, to the group for a negative one", async () => {
  const h = harness();
  const cid = await startOne(h, { signals: [-9, 10] });
  const pid = (await h.svc.inspect(cid))[0].pid;
  let err: unknown;
  try {
    h.svc.kill(cid, 15);
  } catch (e) {
    err = e;
  }
  assert(String(err).includes("Signal not allowed"), String(err));
  h.sys.failOn("kill", 1, ERRNO.EPERM);
  let failed = false;
  try {
    h.svc.kill(cid, 10);
  } catch {
    failed = true;
  }
  assert(failed);
  assertEquals((await h.svc.inspect(cid))[0].running, true);
  h.svc.kill(cid, -9);
  const sent = h.sys.calls.filter((c) => c.kind === "kill").map((c) => c.args);
  assertEquals(sent.at(-1), [-pid, 9]);
  await h.settle();
  assertEquals(h.snapshot().alive, []);
});

Deno.test("stopAll: the stop signal, then SIGKILL after the grace period; no root stays mounted", async () => {
  const h = harness();
  await startOne(h);
  await startOne(h, { signals: [] });
  await startOne(h, { writableFS: true });
  await h.svc.stopAll(30);
  await h.settle();
  const s = h.snapshot();
  assertEquals(s.alive, []);
  assertEquals(s.mounts, []);
  const kills = h.sys.calls.filter((c) => c.kind === "kill").map((c) => c.args[1]);
  assertEquals(kills.sort(), [15, 15, 15, 9, 9, 9].sort());
});
