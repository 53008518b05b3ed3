/**
 * The containers' cgroups over the fake kernel: the daemon's set-up (layout, controllers, the
 * daemon's protection), each container's group and limits, processes placed in it, a failed
 * cgroup step leaving no group and no process, and OOM / pids-limit counters becoming events and
 * Inspect fields.
 */
import { assert, assertEquals, assertRejects } from "../../helpers/assert.ts";
import { CGROUPS, harness } from "../../fakes/containers.ts";
import { FakeSys } from "../../fakes/fake_sys.ts";
import { Cgroups, DEFAULT_LIMITS, MIB } from "../../../src/container/cgroup.ts";
import { cgroup2Mount, cgroupPlan, ownCgroup } from "../../../src/container/cgroup_plan.ts";
import { ERRNO } from "../../../src/sys/errors.ts";

const MOUNTINFO = "22 1 0:21 / /sys rw - sysfs sysfs rw\n" +
  "30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";

/** A fake kernel with /proc and a cgroup2 tree whose root has `controllers`. */
function kernel(controllers = "cpu memory pids", own = "0::/user.slice/term.scope\n"): FakeSys {
  const sys = new FakeSys();
  sys.writeFile("/proc/self/mountinfo", MOUNTINFO);
  sys.writeFile("/proc/self/cgroup", own);
  sys.writeFile("/proc/meminfo", "MemTotal:        2097152 kB\nMemFree: 1 kB\n");
  sys.writeFile("/proc/sys/kernel/pid_max", "32768\n");
  sys.writeFile("/proc/sys/kernel/threads-max", "15000\n");
  const base = own.includes("user.slice")
    ? "/sys/fs/cgroup/user.slice/term.scope"
    : "/sys/fs/cgroup";
  sys.writeFile(`${base}/cgroup.controllers`, controllers + "\n");
  sys.writeFile(`${base}/cgroup.subtree_control`, "");
  return sys;
}

const text = (sys: FakeSys, path: string) => {
  const n = sys.files.get(path);
  return n?.kind === "file" ? n.text : undefined;
};

Deno.test("pure parts: the cgroup2 mount, the own group, the layout", () => {
  assertEquals(cgroup2Mount(MOUNTINFO), "/sys/fs/cgroup");
  assertEquals(cgroup2Mount("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), null);
  assertEquals(ownCgroup("12:pids:/\n0::/a/b\n"), "/a/b");
  assertEquals(ownCgroup("0::/\n"), "/");
  assertEquals(ownCgroup("4:memory:/x\n"), null);
  assertEquals(cgroupPlan("/sys/fs/cgroup/", "acond"), {
    root: "/sys/fs/cgroup/acond",
    daemon: "/sys/fs/cgroup/acond/daemon",
    containers: "/sys/fs/cgroup/acond/containers",
  });
});

Deno.test("set-up as PID 1: acond in its leaf, controllers enabled, the daemon protected", async () => {
  const sys = kernel("cpu memory pids", "0::/\n");
  const cg = await Cgroups.setup({
    sys,
    procRoot: "/proc",
    pid1: true,
    pid: 1,
    limits: DEFAULT_LIMITS,
  });
  assertEquals(cg.enforced, ["memory", "pids"]);
  assertEquals(cg.plan, cgroupPlan("/sys/fs/cgroup", "acond"));
  const p = cg.plan!;
  assertEquals(text(sys, `${p.daemon}/cgroup.procs`), "1");
  for (const d of ["/sys/fs/cgroup", p.root, p.containers]) {
    assertEquals(text(sys, `${d}/cgroup.subtree_control`), "+memory +pids", d);
  }
  assertEquals(text(sys, `${p.daemon}/memory.min`), String(128 * MIB));
  // All containers together: the memory minus the reserve, min(pid_max, threads-max) − 512.
  assertEquals(text(sys, `${p.containers}/memory.max`), String(2048 * MIB - 128 * MIB));
  assertEquals(text(sys, `${p.containers}/pids.max`), String(15000 - 512));
  assertEquals(cg.facts(), { ...DEFAULT_LIMITS, enforced: ["memory", "pids"] });
});

Deno.test("set-up in dev mode: a sub-tree of its own under its cgroup; missing controllers say so", async () => {
  const sys = kernel("cpu pids");
  const cg = await Cgroups.setup({
    sys,
    procRoot: "/proc",
    pid1: false,
    pid: 4242,
    limits: DEFAULT_LIMITS,
  });
  const base = "/sys/fs/cgroup/user.slice/term.scope";
  assertEquals(cg.plan, cgroupPlan(base, "acond-4242"));
  assertEquals(cg.enforced, ["pids"]);
  assertEquals(text(sys, `${base}/cgroup.subtree_control`), "+pids");
  assertEquals(cg.containerLimits(), { memoryLimit: 0, pidsLimit: 1024 });
});

Deno.test("set-up: a group that cannot enable controllers enforces nothing; no cgroup2, no groups", async () => {
  const sys = kernel();
  // The host's group has other processes: the kernel refuses (EBUSY) to enable controllers.
  sys.failOn("writeTextFile", 2, ERRNO.EBUSY);
  const cg = await Cgroups.setup({
    sys,
    procRoot: "/proc",
    pid1: false,
    pid: 7,
    limits: DEFAULT_LIMITS,
  });
  assertEquals(cg.enforced, []);
  assert(cg.plan, "containers are still placed in groups");
  assertEquals(cg.containerLimits(), { memoryLimit: 0, pidsLimit: 0 });

  const none = new FakeSys();
  none.writeFile("/proc/self/mountinfo", "1 0 0:1 / / rw - ext4 /dev/sda rw\n");
  const cg2 = await Cgroups.setup({
    sys: none,
    procRoot: "/proc",
    pid1: true,
    pid: 1,
    limits: DEFAULT_LIMITS,
  });
  assertEquals([cg2.plan, cg2.enforced, cg2.path(3)], [null, [], null]);
});

Deno.test("Start: the container's group has its limits, and its processes are placed in it", async () => {
  const h = harness();
  const id = await h.svc.start(h.image({ noRestart: true }), []);
  await h.settle();
  const dir = `${CGROUPS.containers}/${id}`;
  assertEquals(text(h.sys, `${dir}/pids.max`), "1024");
  assertEquals(text(h.sys, `${dir}/memory.max`), String(512 * MIB));
  assertEquals(text(h.sys, `${dir}/memory.oom.group`), "1");
  const [init] = h.sys.alive();
  assertEquals(init.spec.cgroup, dir);
  // An Exec'd process joins the same group.
  h.image(); // (a second image: the entry point layer exists)
  const exec = h.svc.exec({
    containerId: id,
    command: "Sh",
    arguments: [],
    envs: [],
    stdin: new Uint8Array(),
    timeoutSec: 5,
    captureSize: 0,
  });
  await h.settle();
  const execd = h.sys.alive().find((p) => p.pid !== init.pid)!;
  assertEquals(execd.spec.cgroup, dir);
  h.sys.exit(execd.pid, 0);
  await exec;
  // A noRestart container's exit removes its group.
  h.sys.exit(init.pid, 0);
  await h.settle();
  assertEquals(h.snapshot().cgroups, []);
});

Deno.test("Start: each failed cgroup step leaves no group and no process", async () => {
  // pids.max, memory.max, (memory.swap.max: optional, absent without swap accounting), oom.group.
  for (const nth of [1, 2, 4]) {
    const h = harness();
    const img = h.image();
    h.sys.failOn("writeTextFile", nth, ERRNO.EINVAL);
    await assertRejects(h.svc.start(img, []), Error, "create cgroup");
    await h.settle();
    const s = h.snapshot();
    assertEquals([s.cgroups, s.alive, s.table, s.mounts], [[], [], 0, []], `write #${nth}`);
  }
  const h = harness();
  const img = h.image();
  h.sys.failOn("mkdir", 2, ERRNO.ENOSPC); // the group's directory (after the container's)
  await assertRejects(h.svc.start(img, []), Error, "create cgroup");
  assertEquals(h.snapshot().cgroups, []);
  // And a spawn that fails after the group exists removes the group too.
  const h2 = harness();
  const img2 = h2.image();
  h2.sys.failOn("spawnContainer", 1, ERRNO.EAGAIN, 22);
  await assertRejects(h2.svc.start(img2, []), Error, "join the container's cgroup");
  await h2.settle();
  assertEquals([h2.snapshot().cgroups, h2.snapshot().alive], [[], []]);
});

Deno.test("pids-limit hits and OOM kills: Watch events (each once) and Inspect fields", async () => {
  const h = harness({ limitPollMs: 5 });
  const id = await h.svc.start(h.image(), []);
  await h.settle();
  const dir = `${CGROUPS.containers}/${id}`;
  h.sys.writeFile(`${dir}/pids.events`, "max 3\n");
  const until = async (f: () => boolean) => {
    while (!f()) await new Promise((r) => setTimeout(r, 5));
  };
  await until(() => h.events.some((e) => e.kind === "container_pids_limit"));
  h.sys.writeFile(`${dir}/pids.events`, "max 7\n");
  await until(() => h.events.filter((e) => e.kind === "container_pids_limit").length === 2);
  const [info] = await h.svc.inspect(id);
  assertEquals([info.pidsLimitHits, info.oomKills, info.pidsLimit, info.memoryLimit], [
    7,
    0,
    1024,
    512 * MIB,
  ]);
  // The OOM killer ends the run: its event comes before the exit's.
  h.sys.writeFile(`${dir}/memory.events`, "low 0\nhigh 0\nmax 9\noom 1\noom_kill 2\n");
  h.sys.exit(info.pid, 0, 9);
  await until(() => h.events.some((e) => e.kind === "container_exited"));
  const kinds = h.events.map((e) => [e.kind, e.count]);
  assertEquals(kinds.filter(([k]) => k !== "container_started"), [
    ["container_pids_limit", 3],
    ["container_pids_limit", 7],
    ["container_oom", 2],
    ["container_exited", undefined],
  ]);
  assertEquals((await h.svc.inspect(id))[0].oomKills, 2);
});

Deno.test("set-up in dev mode: the sub-tree of a killed daemon is removed, a live one's kept", async () => {
  const sys = kernel("cpu memory pids", "0::/\n");
  for (const pid of [111, 222]) {
    await sys.mkdir(`/sys/fs/cgroup/acond-${pid}/daemon`, 0o755);
    await sys.mkdir(`/sys/fs/cgroup/acond-${pid}/containers/2`, 0o755);
  }
  await sys.mkdir("/proc/222", 0o755); // still running
  await Cgroups.setup({ sys, procRoot: "/proc", pid1: false, pid: 333, limits: DEFAULT_LIMITS });
  const dirs = (pid: number) => sys.under(`/sys/fs/cgroup/acond-${pid}`).length;
  assertEquals(sys.files.has("/sys/fs/cgroup/acond-111"), false);
  assert(dirs(222) > 0 && dirs(333) > 0);
});
