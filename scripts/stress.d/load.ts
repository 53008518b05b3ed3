/**
 * Load: `clients` concurrent clients (each its own connection pool) × `rpcs` mixed RPCs each
 * against one daemon with a running container. The oracle: every RPC succeeds or earns its error
 * (resource_exhausted from the upload cap, already_exists for a layer already there; a stream we
 * cut ends as we cut it), nothing hangs, and the daemon's descriptors and RSS after the run are
 * within 10 % of what they were after the warm-up (the first tenth of every client's RPCs).
 *   load-unary:   Inspect, Exec, Report, Health, GetEventLog, uploads (AddBlob, chunks)
 *   load-fds:     the load-unary mix judged on errors, hangs and descriptors only: RSS is printed
 *                 and judged by load-unary (it grows today; see the README)
 *   load-streams: the same mix plus Logs and Watch streams cut at random moments
 *   load-kmsg:    the same mix plus KernelLog streams cut at random moments (issue 10, item 1)
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import type { AconClient } from "../../tests/helpers/daemon.ts";
import { craftTar } from "../../tests/helpers/tarcraft.ts";
import { sha384hex } from "../../tests/helpers/busybox.ts";
import { canonicalJson } from "../../tests/helpers/image.ts";
import { Oracle } from "./oracle.ts";
import type { Tally } from "./tally.ts";
import { cleanupDir, dec, HANG_MS, type ProcFigures, procFigures, sleep, World } from "./world.ts";

export const LOAD_CHECKS = ["load-unary", "load-fds", "load-streams", "load-kmsg"];

export interface LoadParams {
  seed: number;
  clients: number;
  rpcs: number;
  checks: string[];
}

/** A small deterministic PRNG (mulberry32) per client, from the run's seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = (c: AconClient, r: () => number, signal: AbortSignal) => Promise<void>;

/** Errors an RPC of the mix may earn under load. */
const LOAD_EARNED = new Set([Code.ResourceExhausted, Code.AlreadyExists]);

interface Mix {
  ops: [string, number, Op][];
}

async function mix(w: World, streams: "none" | "streams" | "kmsg"): Promise<Mix> {
  const runner = await w.ensureRunner();
  // A few small layers, each referenced by a loaded manifest, uploaded again and again.
  const layers: { tar: Uint8Array; digest: string }[] = [];
  for (let i = 0; i < 4; i++) {
    const tar = craftTar([{ name: `f${i}`, data: `layer ${i} ${w.pid}\n`.repeat(200) }]);
    const digest = `sha384/${await sha384hex(tar)}`;
    const text = canonicalJson(w.busyboxManifest({ layers: [digest] }));
    const s = w.signers[1];
    await w.c.addManifest({
      manifest: text,
      signature: await s.sign(text),
      certificate: s.signer.certificate,
    });
    layers.push({ tar, digest });
  }
  const pick = <T>(r: () => number, xs: T[]) => xs[Math.floor(r() * xs.length)];
  const unary: [string, number, Op][] = [
    ["Inspect", 4, async (c, r, signal) => {
      await c.inspect({ containerId: r() < 0.5 ? 0 : runner }, { signal });
    }],
    ["Exec", 3, async (c, r, signal) => {
      const word = `w${Math.floor(r() * 1e6)}`;
      const out = await c.exec({
        containerId: runner,
        command: "Echo",
        arguments: [word],
        envs: ["PATH=/bin"],
        timeout: 10n,
      }, { signal });
      if (dec.decode(out.stdout) !== `${word}\n`) {
        throw new Error(`Exec Echo ${word} gave ${JSON.stringify(dec.decode(out.stdout))}`);
      }
    }],
    ["Report", 2, async (c, r, signal) => {
      await c.report({
        nonceLo: BigInt(Math.floor(r() * 2 ** 32)),
        nonceHi: 1n,
        requestType: r() < 0.5 ? 0 : 1,
      }, { signal });
    }],
    ["Health", 2, async (c, _r, signal) => {
      await c.health({}, { signal });
    }],
    ["GetEventLog", 1, async (c, _r, signal) => {
      await c.getEventLog({}, { signal });
    }],
    ["AddBlob", 1, async (c, r, signal) => {
      await c.addBlob({ alg: 2, data: pick(r, layers).tar }, { signal });
    }],
    ["chunked upload", 1, async (c, r, signal) => {
      const l = pick(r, layers);
      const b = await c.beginBlob({ digest: l.digest, size: BigInt(l.tar.length) }, { signal });
      for (let off = 0; off < l.tar.length; off += 2048) {
        await c.writeBlob({
          uploadId: b.uploadId,
          offset: BigInt(off),
          data: l.tar.subarray(off, off + 2048),
        }, { signal });
      }
      await c.commitBlob({ uploadId: b.uploadId }, { signal });
    }],
  ];
  const cut = (r: () => number) => sleep(Math.floor(r() * 300));
  const stream = (
    name: string,
    open: (c: AconClient, signal: AbortSignal) => AsyncIterable<unknown>,
  ): [string, number, Op] => [name, 1, async (c, r, signal) => {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener("abort", onAbort);
    const reading = (async () => {
      for await (const _ of open(c, ac.signal)) { /* drop */ }
    })();
    await Promise.race([cut(r), reading.catch(() => {})]);
    ac.abort();
    try {
      await reading;
    } catch (e) {
      if (!(e instanceof ConnectError && e.code === Code.Canceled)) throw e;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }];
  const streamOps: [string, number, Op][] = [
    stream("Logs follow", (c, s) => c.logs({ containerId: runner, follow: true }, { signal: s })),
    stream("Watch", (c, s) => c.watch({}, { signal: s })),
  ];
  const kmsg = stream("KernelLog follow", (c, s) => c.kernelLog({ follow: true }, { signal: s }));
  return {
    ops: streams === "streams"
      ? [...unary, ...streamOps]
      : streams === "kmsg"
      ? [...unary, kmsg]
      : unary,
  };
}

function chooser(ops: [string, number, Op][]): (r: () => number) => [string, Op] {
  const total = ops.reduce((n, o) => n + o[1], 0);
  return (r) => {
    let x = r() * total;
    for (const [name, wt, op] of ops) if ((x -= wt) < 0) return [name, op];
    return [ops[0][0], ops[0][2]];
  };
}

/** Figures once the daemon is quiet: the lowest of a few samples (RSS wobbles with GC). */
async function settled(pid: number): Promise<ProcFigures> {
  await sleep(1500);
  let best: ProcFigures = { rssKiB: Infinity, fds: Infinity };
  for (let i = 0; i < 5; i++) {
    const f = procFigures(pid);
    if (f) best = { rssKiB: Math.min(best.rssKiB, f.rssKiB), fds: Math.min(best.fds, f.fds) };
    await sleep(200);
  }
  return best;
}

async function loadOnce(t: Tally, p: LoadParams, check: string): Promise<void> {
  const w = await World.create();
  const victim = await Deno.makeTempDir({ prefix: "acond-stress-victim-" });
  const oracle = new Oracle(w, p.seed, victim);
  await oracle.baseline();
  const row = t.row(check);
  const https: Deno.HttpClient[] = [];
  try {
    const m = await mix(
      w,
      check === "load-streams" ? "streams" : check === "load-kmsg" ? "kmsg" : "none",
    );
    const choose = chooser(m.ops);
    const clients = Array.from({ length: p.clients }, () => {
      const http = Deno.createHttpClient({ proxy: { transport: "unix", path: w.socket } });
      https.push(http);
      return createClient(
        AconService,
        createConnectTransport({
          baseUrl: "http://localhost",
          useBinaryFormat: true,
          fetch: (input, init) => fetch(input, { ...init, client: http }),
        }),
      );
    });
    const warm = Math.max(1, Math.floor(p.rpcs / 10));
    const counts = new Map<string, number>();
    const runRound = (from: number, to: number) =>
      Promise.all(clients.map(async (c, ci) => {
        const r = rng(p.seed * 7919 + ci * 104729 + from);
        for (let i = from; i < to; i++) {
          const [name, op] = choose(r);
          counts.set(name, (counts.get(name) ?? 0) + 1);
          row.inputs++;
          const ac = new AbortController();
          const timer = setTimeout(() => ac.abort(), HANG_MS);
          try {
            await op(c, r, ac.signal);
          } catch (e) {
            if (ac.signal.aborted) t.fail(check, "hangs", `${name}: no answer in ${HANG_MS} ms`);
            else if (!(e instanceof ConnectError && LOAD_EARNED.has(e.code))) {
              t.fail(check, "unearned", `${name}: ${(e as Error).message}`);
            }
          } finally {
            clearTimeout(timer);
          }
        }
      }));
    await runRound(0, warm);
    const base = await settled(w.pid);
    const t0 = Date.now();
    await runRound(warm, p.rpcs);
    const secs = (Date.now() - t0) / 1000;
    const after = await settled(w.pid);
    const done = [...counts].map(([k, v]) => `${k} ${v}`).join(", ");
    console.error(
      `${check}: ${p.clients} clients × ${p.rpcs} RPCs (${done}); ` +
        `${((p.clients * (p.rpcs - warm)) / secs).toFixed(0)} RPC/s after warm-up; ` +
        `fds ${base.fds} → ${after.fds}, RSS ${(base.rssKiB / 1024).toFixed(1)} → ` +
        `${(after.rssKiB / 1024).toFixed(1)} MiB`,
    );
    if (after.fds > base.fds * 1.1) {
      t.fail(check, "leaks", `descriptors ${base.fds} after warm-up, ${after.fds} after the run`);
    }
    if (check !== "load-fds" && after.rssKiB > base.rssKiB * 1.1) {
      t.fail(
        check,
        "leaks",
        `RSS ${(base.rssKiB / 1024).toFixed(1)} MiB after warm-up, ${
          (after.rssKiB / 1024).toFixed(1)
        } MiB after the run`,
      );
    }
    const problems = await oracle.check();
    if (!await w.alive()) t.fail(check, "crashes", w.d.stderr().split("\n").slice(-5).join(" | "));
    else if (problems.length) t.fail(check, "consistency", problems.join("; "));
  } finally {
    for (const h of https) h.close();
    await w.stop().catch(() => {});
    await cleanupDir(w.dir);
    await Deno.remove(victim, { recursive: true }).catch(() => {});
  }
}

export async function runLoad(t: Tally, p: LoadParams): Promise<void> {
  for (const check of p.checks) await loadOnce(t, p, check);
}
