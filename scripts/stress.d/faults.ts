/**
 * Faults: kill -9 of the daemon at random moments of a request, then a restart on the same root;
 * ENOSPC on a small tmpfs root filled to a few free bytes before each kind of write.
 *   kill9-<verb> (addmanifest, upload, start, restart): the request runs, a random 0..60 ms
 *     later the daemon is killed; restarted on the same root, the consistency oracle holds (the
 *     log replays, nothing stored unmeasured, no container directory, mount or process left
 *     from before) and a new container does not see what an old one wrote.
 *   enospc-manifest, enospc-layer: with 0..64 KiB free, AddManifest (event log and image store)
 *     or AddBlob/chunked upload (layer store) answer success or resource_exhausted, the oracle
 *     holds, and once space is back the daemon takes the request again (or, the event log being
 *     broken by a failed append, refuses measurements with failed_precondition, fail closed).
 */
import { Code } from "@connectrpc/connect";
import { craftTar } from "../../tests/helpers/tarcraft.ts";
import { sha384hex } from "../../tests/helpers/busybox.ts";
import { canonicalJson } from "../../tests/helpers/image.ts";
import { Oracle } from "./oracle.ts";
import type { Tally } from "./tally.ts";
import { call, cleanupDir, dec, describe, sleep, unearned, World } from "./world.ts";

export interface Fault {
  name: string;
  run(t: Tally, seed: number): Promise<void>;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), a | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ROUNDS = () => Number(Deno.env.get("STRESS_FAULT_ROUNDS") ?? 4);

async function signedManifest(w: World, over: Record<string, unknown>) {
  const text = canonicalJson(w.busyboxManifest(over));
  const s = w.signers[1];
  return { manifest: text, signature: await s.sign(text), certificate: s.signer.certificate };
}

type Verb = "addmanifest" | "upload" | "start" | "restart";

/** The request a kill interrupts (its own answer does not matter: the daemon dies under it). */
async function interrupted(w: World, verb: Verb, round: number): Promise<unknown> {
  switch (verb) {
    case "addmanifest":
      return w.c.addManifest(await signedManifest(w, {}));
    case "upload": {
      const tar = craftTar([{ name: "big", data: new Uint8Array(3 << 20).fill(round) }]);
      const digest = `sha384/${await sha384hex(tar)}`;
      await w.c.addManifest(await signedManifest(w, { layers: [digest] }));
      return w.c.addBlob({ alg: 2, data: tar });
    }
    case "start":
      return w.c.start({ imageId: await w.plainImage() });
    case "restart": {
      const id = await w.ensureRunner();
      return w.c.restart({ containerId: id, timeout: 5n });
    }
  }
}

function kill9(verb: Verb): Fault {
  return {
    name: `kill9-${verb}`,
    async run(t, seed) {
      const name = `kill9-${verb}`;
      const r = rng(seed ^ verb.length * 977);
      const w = await World.create();
      const victim = await Deno.makeTempDir({ prefix: "acond-stress-victim-" });
      const oracle = new Oracle(w, seed, victim);
      await oracle.baseline();
      try {
        for (let round = 0; round < ROUNDS(); round++) {
          t.row(name).inputs++;
          // An old container that wrote a file into its writable root.
          const marked = await w.addImage({ writableFS: true });
          const old = (await w.c.start({ imageId: marked })).containerId;
          await w.c.exec({
            containerId: old,
            command: "Mark",
            arguments: [`old-${round}`],
            envs: ["PATH=/bin"],
            timeout: 5n,
          });
          if (verb === "restart") await w.ensureRunner();
          const p = interrupted(w, verb, round).catch(() => {});
          await sleep(Math.floor(r() * 60));
          await w.kill9();
          await p;
          await w.boot();
          oracle.reset();
          const problems = await oracle.check();
          if (problems.length) {
            t.fail(name, "consistency", `round ${round}: ${problems.join("; ")}`);
          }
          // A new container (of a new image) must not see the old one's files.
          const fresh = await w.addImage({ writableFS: true });
          const a = await call((signal) => w.c.start({ imageId: fresh }, { signal }));
          if (!a.ok) {
            t.fail(name, "unearned", `round ${round}: Start after restart: ${describe(a)}`);
            continue;
          }
          const look = await call((signal) =>
            w.c.exec({
              containerId: a.value.containerId,
              command: "Look",
              envs: ["PATH=/bin"],
              timeout: 5n,
            }, { signal })
          );
          if (!look.ok) t.fail(name, "unearned", `round ${round}: Exec Look: ${describe(look)}`);
          else if (dec.decode(look.value.stdout).includes("old-")) {
            t.fail(
              name,
              "wrong",
              `round ${round}: a new container reads an old one's file: ${
                dec.decode(look.value.stdout).split("\n")[0]
              }`,
            );
          }
          await w.c.kill({ containerId: a.value.containerId, signalNum: 9 }).catch(() => {});
        }
      } finally {
        await w.stop().catch(() => {});
        await cleanupDir(w.dir);
        await Deno.remove(victim, { recursive: true }).catch(() => {});
      }
    },
  };
}

/** The filler lives in the state root (the oracle watches the directory around it). */
const filler = (dir: string) => `${dir}/root/stress-filler`;

async function fill(dir: string, free: number): Promise<void> {
  const path = filler(dir);
  await Deno.remove(path).catch(() => {});
  const st = await new Deno.Command("stat", { args: ["-f", "-c", "%a %S", dir], stdout: "piped" })
    .output();
  const [blocks, bsize] = dec.decode(st.stdout).trim().split(" ").map(Number);
  const want = Math.max(0, blocks * bsize - free);
  const f = await Deno.open(path, { write: true, create: true });
  try {
    const chunk = new Uint8Array(1 << 20);
    let left = want;
    while (left > 0) {
      try {
        left -= await f.write(chunk.subarray(0, Math.min(left, chunk.length)));
      } catch {
        break; // full
      }
    }
  } finally {
    f.close();
  }
}

function enospc(kind: "manifest" | "layer"): Fault {
  return {
    name: `enospc-${kind}`,
    async run(t, seed) {
      const name = `enospc-${kind}`;
      const dir = await Deno.makeTempDir({ prefix: "acond-stress-enospc-" });
      const victim = await Deno.makeTempDir({ prefix: "acond-stress-victim-" });
      await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", dir],
      }).output();
      let w: World | null = null;
      try {
        w = await World.create({ dir });
        const oracle = new Oracle(w, seed, victim);
        await oracle.baseline();
        await w.plainImage(); // the busybox layer in the store before the disk fills
        const levels = [0, 512, 4096, 8192, 16384, 65536];
        for (const free of levels) {
          t.row(name).inputs++;
          await fill(dir, free);
          const tar = craftTar([{ name: "f", data: new Uint8Array(48 << 10).fill(free & 255) }]);
          const digest = `sha384/${await sha384hex(tar)}`;
          let a;
          if (kind === "manifest") {
            const m = await signedManifest(w, {});
            a = await call((signal) => w!.c.addManifest(m, { signal }));
          } else {
            await Deno.remove(filler(dir)).catch(() => {});
            await w.c.addManifest(await signedManifest(w, { layers: [digest] }));
            await fill(dir, free);
            a = free & 1024
              ? await call((signal) => w!.c.addBlob({ alg: 2, data: tar }, { signal }))
              : await call(async (signal) => {
                const b = await w!.c.beginBlob({ digest, size: BigInt(tar.length) }, { signal });
                await w!.c.writeBlob({ uploadId: b.uploadId, offset: 0n, data: tar }, { signal });
                return await w!.c.commitBlob({ uploadId: b.uploadId }, { signal });
              });
          }
          const u = unearned(a);
          if (u === "hang") t.fail(name, "hangs", `${free} B free: no answer`);
          else if (u || (!a.ok && "code" in a && a.code !== Code.ResourceExhausted)) {
            t.fail(
              name,
              "unearned",
              `${free} B free: ${describe(a)} (want success or resource_exhausted)`,
            );
          }
          const problems = await oracle.check();
          if (problems.length) {
            t.fail(name, "consistency", `${free} B free: ${problems.join("; ")}`);
          }
          // Space back: the request goes through (or measurements are refused, fail closed).
          await Deno.remove(filler(dir)).catch(() => {});
          const again = await call(async (signal) =>
            await w!.c.addManifest(await signedManifest(w!, {}), { signal })
          );
          if (!again.ok && !("code" in again && again.code === Code.FailedPrecondition)) {
            t.fail(name, "unearned", `${free} B free, then space back: ${describe(again)}`);
          }
          const after = await oracle.check();
          if (after.length) t.fail(name, "consistency", `space back: ${after.join("; ")}`);
        }
      } finally {
        await w?.stop().catch(() => {});
        await cleanupDir(dir, true);
        await new Deno.Command("umount", { args: ["-l", dir] }).output();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        await Deno.remove(victim, { recursive: true }).catch(() => {});
      }
    },
  };
}

export const FAULTS: Fault[] = [
  kill9("addmanifest"),
  kill9("upload"),
  kill9("start"),
  kill9("restart"),
  enospc("manifest"),
  enospc("layer"),
];

export async function runFaults(t: Tally, seed: number, checks: string[]): Promise<void> {
  for (const f of FAULTS) {
    if (!checks.includes(f.name)) continue;
    const t0 = Date.now();
    try {
      await f.run(t, seed);
    } catch (e) {
      t.fail(f.name, "unearned", `the check's own calls failed: ${(e as Error).message}`);
    }
    console.error(`faults: ${f.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}
