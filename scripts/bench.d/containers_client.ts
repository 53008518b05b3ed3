/**
 * Bench client for the "containers" section of scripts/bench: Start and Exec latency (p50/p99)
 * side by side with `crun run` / `crun exec` of an equivalent OCI bundle (busybox-static rootfs,
 * user namespace mapped like acond's), and acond's RSS with 0/100/500 idle containers.
 * Usage: containers_client.ts <socket> <acond pid> <work dir> [runs]
 * Must run where crun works (see notes/peers.md: a private mount namespace with pure cgroup2);
 * scripts/bench.d/containers.sh arranges that. Prints the section's table rows.
 */
import { connect } from "../../src/cli/client.ts";
import { Event_Kind } from "../../src/gen/acon_pb.ts";
import { makeSigner } from "../../tests/helpers/pki.ts";
import { baseManifest, signedManifest } from "../../tests/helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../../tests/helpers/busybox.ts";

const [socket, acondPid, work, runsArg = "200"] = Deno.args;
const RUNS = Number(runsArg);
const c = connect(`unix:${socket}`);

const row = (m: string, v: string) =>
  console.log(`${"containers".padEnd(8)} | ${m.padEnd(44)} | ${v}`);
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(2);
}
async function timeEach(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 5; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}
async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
  return new TextDecoder().decode(r.stdout);
}
const rss = async () =>
  Number(/VmRSS:\s+(\d+)/.exec(await Deno.readTextFile(`/proc/${acondPid}/status`))![1]) / 1024;

// ---- images ----
const src = `${work}/rootfs`;
await buildRootfs(src);
const tar = await tarOf(src);
const layer = `sha384/${await sha384hex(tar)}`;
const signer = await makeSigner("ec-p384");
let seq = 0;
async function image(over: Record<string, unknown>): Promise<string> {
  const m = baseManifest({ layers: [layer], env: ["PATH=/bin"], maxInstances: 0, ...over });
  m.aliases = { self: { ".": [`bench${seq++}:1`] } };
  const r = await c.addManifest(await signedManifest(signer, m));
  if (r.missingLayers.length) await c.addBlob({ alg: 2, data: tar });
  return r.imageId;
}
const trueImg = await image({ entrypoint: ["/bin/true"], noRestart: true });
const idleImg = await image({ entrypoint: ["/bin/sleep", "100000"], signals: [9] });

// ---- acond Start: RPC until exec'd, and until the exit is reported (Watch) ----
const exits = new Map<number, () => void>();
const early = new Set<number>(); // exits reported before the Start reply was processed
const ac = new AbortController();
(async () => {
  try {
    for await (const e of c.watch({}, { signal: ac.signal })) {
      if (e.kind !== Event_Kind.CONTAINER_EXITED) continue;
      const w = exits.get(e.containerId);
      if (w) w();
      else early.add(e.containerId);
    }
  } catch { /* aborted */ }
})();
await new Promise((r) => setTimeout(r, 200));
const startRpc: number[] = [];
const startExit = await timeEach(RUNS, async () => {
  const t0 = performance.now();
  let resolve!: () => void;
  const exited = new Promise<void>((r) => (resolve = r));
  const id = (await c.start({ imageId: trueImg })).containerId;
  startRpc.push(performance.now() - t0);
  if (early.delete(id)) return;
  exits.set(id, resolve);
  await exited;
  exits.delete(id);
});

// ---- crun bundle: same rootfs, user namespace like acond's ----
const bundle = `${work}/bundle`;
await Deno.mkdir(bundle, { recursive: true });
await run("cp", ["-a", src, `${bundle}/rootfs`]);
for (const d of ["proc", "dev", "tmp", "sys"]) {
  await Deno.mkdir(`${bundle}/rootfs/${d}`, { recursive: true });
}
await run("crun", ["spec"], bundle);
const spec = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
spec.process.terminal = false;
spec.process.args = ["/bin/true"];
delete spec.linux.resources;
delete spec.linux.cgroupsPath;
spec.linux.namespaces = [
  { type: "pid" },
  { type: "ipc" },
  { type: "uts" },
  { type: "mount" },
  { type: "user" },
];
spec.linux.uidMappings = [{ containerID: 0, hostID: 3_000_000, size: 1 }];
spec.linux.gidMappings = [{ containerID: 0, hostID: 3_000_000, size: 1 }];
spec.mounts = spec.mounts.filter((m: { destination: string }) =>
  ["/proc", "/dev", "/dev/shm"].includes(m.destination)
);
await run("chmod", ["755", work, bundle]);
await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(spec));
const crun = (args: string[]) => run("crun", ["--cgroup-manager=disabled", ...args], bundle);
let n = 0;
const crunRun = await timeEach(RUNS, () => crun(["run", `b${n++}`])).catch((e) => {
  row("crun run failed", (e as Error).message.split("\n")[0].slice(0, 60));
  return [] as number[];
});

const show = (name: string, xs: number[]) =>
  row(name, xs.length ? `p50 ${pct(xs, 50)} ms, p99 ${pct(xs, 99)} ms (n=${xs.length})` : "n/a");
show("acond Start RPC (until exec)", startRpc);
show("acond Start → exit seen (Watch)", startExit);
show("crun run /bin/true (create+exec+exit)", crunRun);
if (crunRun.length && startExit.length) {
  row(
    "ratio acond start→exit / crun run (p50)",
    `${(pct(startExit, 50) / pct(crunRun, 50)).toFixed(2)}`,
  );
}

// ---- Exec: into a running container ----
const target = (await c.start({ imageId: idleImg })).containerId;
const execLat = await timeEach(
  RUNS,
  () => c.exec({ containerId: target, command: "Echo", arguments: ["x"], timeout: 10n }),
);
spec.process.args = ["/bin/sleep", "100000"];
await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(spec));
let crunExec: number[] = [];
try {
  await crun(["delete", "-f", "idle"]).catch(() => {});
  // Detached: the container keeps its stdio, so do not wait for EOF on a pipe.
  const d = await new Deno.Command("crun", {
    args: ["--cgroup-manager=disabled", "run", "-d", "idle"],
    cwd: bundle,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!d.success) throw new Error("crun run -d idle failed");
  crunExec = await timeEach(RUNS, () => crun(["exec", "idle", "/lib/acon/entrypoint.d/Echo", "x"]));
  await crun(["kill", "idle", "KILL"]).catch(() => {});
  await new Promise((r) => setTimeout(r, 200));
  await crun(["delete", "-f", "idle"]).catch(() => {});
} catch (e) {
  row("crun exec failed", (e as Error).message.split("\n")[0].slice(0, 60));
}
show("acond Exec Echo (batch)", execLat);
show("crun exec Echo", crunExec);
if (crunExec.length) {
  row("ratio acond Exec / crun exec (p50)", `${(pct(execLat, 50) / pct(crunExec, 50)).toFixed(2)}`);
}
await c.kill({ containerId: target, signalNum: 9 });

// ---- RSS with idle containers ----
await new Promise((r) => setTimeout(r, 500));
row("acond RSS, 0 idle containers", `${(await rss()).toFixed(1)} MiB`);
const idle: number[] = [];
for (const target of [100, 500]) {
  while (idle.length < target) idle.push((await c.start({ imageId: idleImg })).containerId);
  await new Promise((r) => setTimeout(r, 500));
  row(`acond RSS, ${target} idle containers`, `${(await rss()).toFixed(1)} MiB`);
}
for (const id of idle) await c.kill({ containerId: id, signalNum: 9 });
ac.abort();
Deno.exit(0);
