/**
 * Containers' cgroups and /dev/shm against the real dist/acond --dev (as root). Each container
 * runs in its own group under the daemon's sub-tree, from its first instruction (the entry point
 * and an Exec'd process both report it in /proc/self/cgroup); the boot event records the limits
 * and which controllers enforce them on this host; the sub-tree goes when the daemon stops. Each
 * container has its own /dev/shm. Limits that need the pids and memory controllers (a fork bomb,
 * a memory hog) are proven under PID 1 in tests/e2e/limits_test.ts: a dev host may keep those
 * controllers on cgroup v1 (this test says so rather than assuming either).
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { type AconClient, type DevDaemon, startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";
import { cgroup2Mount, ownCgroup } from "../../src/container/cgroup_plan.ts";
import { parseBootEvent } from "../../src/attest/bootevent.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function busyboxImage(c: AconClient, over: Record<string, unknown> = {}): Promise<string> {
  const src = await Deno.makeTempDir({ prefix: "bb-rootfs-" });
  await buildRootfs(src);
  const tar = await tarOf(src);
  await Deno.remove(src, { recursive: true });
  const layer = `sha384/${await sha384hex(tar)}`;
  const m = baseManifest({
    layers: [layer],
    entrypoint: ["/bin/sleep", "1000"],
    env: ["PATH=/bin"],
    signals: [9],
    maxInstances: 0,
    uids: [],
    ...over,
  });
  const r = await c.addManifest(await signedManifest(await makeSigner("ec-p384"), m));
  if (r.missingLayers.length) await c.addBlob({ alg: 2, data: tar });
  return r.imageId;
}

async function sh(c: AconClient, containerId: number, script: string): Promise<string> {
  const x = await c.exec({
    containerId,
    command: "Sh",
    arguments: [script],
    envs: ["PATH=/bin"],
    timeout: 20n,
  });
  return dec(x.stdout) + dec(x.stderr);
}

/** The host's cgroup2 mount and the group a new process of ours lands in. */
async function hostCgroup(): Promise<{ mount: string; own: string }> {
  const mount = cgroup2Mount(await Deno.readTextFile("/proc/self/mountinfo"));
  const own = ownCgroup(await Deno.readTextFile("/proc/self/cgroup"));
  assert(mount && own, "this host has a cgroup2 hierarchy");
  return { mount, own };
}

Deno.test("each container in its own cgroup from its first instruction; limits in the boot event", async () => {
  const { mount, own } = await hostCgroup();
  const base = own === "/" ? mount : `${mount}${own}`;
  const available = (await Deno.readTextFile(`${base}/cgroup.controllers`)).trim().split(/\s+/);
  let d: DevDaemon | null = await startDaemon({ args: ["--pids-max", "64", "--memory-max", "96"] });
  try {
    const c = d.client();
    const pid = d.proc.pid;
    const sub = `${own === "/" ? "" : own}/acond-${pid}`;
    // The daemon itself moved into its leaf.
    assertEquals(ownCgroup(await Deno.readTextFile(`/proc/${pid}/cgroup`)), `${sub}/daemon`);
    const img = await busyboxImage(c);
    const a = (await c.start({ imageId: img })).containerId;
    const b = (await c.start({ imageId: img })).containerId;
    const [ia, ib] = (await c.inspect({ containerId: 0 })).info;
    // The entry point (seen from the host) and an Exec'd process (from inside) are in the group.
    for (const [id, info] of [[a, ia], [b, ib]] as const) {
      assertEquals(
        ownCgroup(await Deno.readTextFile(`/proc/${info.pid}/cgroup`)),
        `${sub}/containers/${id}`,
      );
      assertEquals(ownCgroup(await sh(c, id, "cat /proc/self/cgroup")), `${sub}/containers/${id}`);
    }
    // The boot event records the configured limits and what this host's kernel enforces.
    const log = await Deno.readTextFile(`${d.root}/rtmr/rtmr3.log`);
    const boot = parseBootEvent(log.split("\n").find((l) => l.startsWith("acond Boot "))!);
    const enforced = ["memory", "pids"].filter((x) => available.includes(x));
    assertEquals(boot?.limits, {
      memoryMax: 96 << 20,
      pidsMax: 64,
      reserveMemory: 128 << 20,
      reservePids: 512,
      enforced,
    });
    // Inspect shows each limit only where it is enforced.
    assertEquals(
      [ia.pidsLimit, ia.memoryLimit],
      [enforced.includes("pids") ? 64n : 0n, enforced.includes("memory") ? 96n << 20n : 0n],
    );
    if (enforced.includes("pids")) {
      assertEquals(await Deno.readTextFile(`${mount}${sub}/containers/${a}/pids.max`), "64\n");
    }
    await d.stop();
    d = null;
    // The daemon's sub-tree is gone with it.
    assertEquals(await Deno.stat(`${mount}${sub}`).then(() => true, () => false), false);
  } finally {
    await d?.stop();
  }
});

Deno.test("each container has its own /dev/shm: not the other's, not the host's", async () => {
  const d = await startDaemon();
  const marker = `acond-shm-${crypto.randomUUID()}`;
  try {
    const c = d.client();
    const img = await busyboxImage(c);
    const a = (await c.start({ imageId: img })).containerId;
    const b = (await c.start({ imageId: img })).containerId;
    const out = await sh(c, a, `echo secret > /dev/shm/${marker} && cat /dev/shm/${marker}`);
    assertEquals(out, "secret\n");
    assertEquals(await sh(c, b, `ls -a /dev/shm`), ".\n..\n");
    assertEquals(await Deno.stat(`/dev/shm/${marker}`).then(() => true, () => false), false);
    // A size-limited tmpfs of the container's own.
    assertMatch(await sh(c, a, "grep ' /dev/shm ' /proc/self/mounts"), /tmpfs .*size=65536k/);
    // It stays with the container: an Exec later still sees its file.
    assertEquals(await sh(c, a, `cat /dev/shm/${marker}`), "secret\n");
  } finally {
    await d.stop();
    await Deno.remove(`/dev/shm/${marker}`).catch(() => {});
  }
});
