/**
 * Load: `clients` concurrent clients (each its own connection pool) × `rpcs` mixed RPCs each
 * against one daemon with a running container. The oracle: every RPC succeeds or earns its error
 * (resource_exhausted from the upload cap, already_exists for a layer already there; a stream we
 * cut ends as we cut it), nothing hangs, and the daemon's descriptors and RSS at the end are
 * within 10 % of what they were after the warm-up (the first half of every client's RPCs),
 * measured with every client's connections closed and the daemon quiet (lowest of 5 samples).
 * RSS is judged from RSS_MIN_RPCS RPCs per client on (shorter runs end inside V8's heap growth).
 *   load-unary:   Inspect, Exec, Report, Health, GetEventLog, uploads (AddBlob, chunks)
 *   load-fds:     the whole mix (unary and every stream) judged on errors, hangs and
 *                 descriptors only (the reduced run's load check)
 *   load-streams: the same mix plus Logs and Watch streams, each cut by closing its connection
 *                 0..300 ms in
 *   load-kmsg:    the same mix plus KernelLog streams cut the same way (issue 10, item 1)
 *   load-protocols: the unary mix plus ACON REST calls (Inspect, Report over /api/v1) from the
 *                 same clients, and beside them a quarter as many native gRPC clients (grpcio,
 *                 tests/integration/grpc_client.py `load`, each its own connection: Health,
 *                 Inspect, Report, Exec, GetEventLog, Logs and KernelLog streams ended by their
 *                 deadline), judged the same way (issue 14: the load suite over gRPC and REST)
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import type { AconClient } from "../../tests/helpers/daemon.ts";
import { craftTar } from "../../tests/helpers/tarcraft.ts";
import { sha384hex } from "../../tests/helpers/busybox.ts";
import { canonicalJson } from "../../tests/helpers/image.ts";
import { cutStream } from "../../tests/helpers/rawstream.ts";
import { Oracle } from "./oracle.ts";
import type { Tally } from "./tally.ts";
import { cleanupDir, dec, HANG_MS, type ProcFigures, procFigures, sleep, World } from "./world.ts";

/** Fewest RPCs per client for which the RSS criterion is applied (see loadOnce). */
export const RSS_MIN_RPCS = 200;

export const LOAD_CHECKS = [
  "load-unary",
  "load-fds",
  "load-streams",
  "load-kmsg",
  "load-protocols",
];

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

type Op = (
  c: AconClient,
  r: () => number,
  signal: AbortSignal,
  http: Deno.HttpClient,
) => Promise<void>;

/** How many times HANG_MS an RPC is waited for before it is cut and called stuck. */
const STUCK_FACTOR = 3;

/** Errors an RPC of the mix may earn under load. */
const LOAD_EARNED = new Set([Code.ResourceExhausted, Code.AlreadyExists]);

interface Mix {
  ops: [string, number, Op][];
  /** The container Exec and Logs go to. */
  runner: number;
}

async function mix(
  w: World,
  streams: "none" | "streams" | "kmsg" | "all" | "rest",
): Promise<Mix> {
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
  // A stream is cut by closing its connection 0..300 ms in (tests/helpers/rawstream.ts: a
  // fetch abort under Deno 2.9.6 does not always close the connection of an idle stream).
  const stream = (name: string, method: string, json: string): [string, number, Op] => [
    name,
    1,
    async (_c, r) => {
      const s = await cutStream(w.socket, method, json, Math.floor(r() * 300));
      if (s.status && !s.status.startsWith("HTTP/1.1 200")) throw new Error(`${name}: ${s.status}`);
    },
  ];
  const streamOps: [string, number, Op][] = [
    stream("Logs follow", "Logs", `{"containerId":${runner},"follow":true}`),
    stream("Watch", "Watch", "{}"),
  ];
  const kmsg = stream("KernelLog follow", "KernelLog", '{"follow":true}');
  // ACON's REST API (what aconcli calls), over the client's own connection pool.
  const rest = (name: string, path: (r: () => number) => string): [string, number, Op] => [
    name,
    2,
    async (_c, r, signal, http) => {
      const res = await fetch(`http://localhost${path(r)}`, { client: http, signal });
      const text = await res.text();
      if (res.status === 429 || res.status === 503) {
        throw new ConnectError(`REST ${res.status}`, Code.ResourceExhausted);
      }
      if (res.status !== 200) throw new Error(`${name}: HTTP ${res.status} ${text.slice(0, 200)}`);
      JSON.parse(text); // aconcli decodes every answer as JSON
    },
  ];
  const restOps: [string, number, Op][] = [
    rest("REST inspect", (r) => `/api/v1/container/${r() < 0.5 ? runner : 0}/inspect`),
    rest(
      "REST report",
      (r) =>
        `/api/v1/container/report?nonce_lo=${Math.floor(r() * 2 ** 32)}&nonce_hi=1&request_type=${
          r() < 0.5 ? 0 : 1
        }`,
    ),
  ];
  return {
    runner,
    ops: streams === "streams"
      ? [...unary, ...streamOps]
      : streams === "rest"
      ? [...unary, ...restOps]
      : streams === "kmsg"
      ? [...unary, kmsg]
      : streams === "all"
      ? [...unary, ...streamOps, kmsg]
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
      check === "load-streams"
        ? "streams"
        : check === "load-kmsg"
        ? "kmsg"
        : check === "load-fds"
        ? "all"
        : check === "load-protocols"
        ? "rest"
        : "none",
    );
    const choose = chooser(m.ops);
    // Each client its own connection pool; all closed at every checkpoint, so that what the
    // daemon holds then is what it kept, not the pools' idle connections.
    let clients: AconClient[] = [];
    const connect = () => {
      for (const h of https.splice(0)) h.close();
      clients = Array.from({ length: p.clients }, () => {
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
    };
    const counts = new Map<string, number>();
    const runRound = (from: number, to: number) =>
      Promise.all(clients.map(async (c, ci) => {
        const r = rng(p.seed * 7919 + ci * 104729 + from);
        for (let i = from; i < to; i++) {
          const [name, op] = choose(r);
          counts.set(name, (counts.get(name) ?? 0) + 1);
          row.inputs++;
          // Past HANG_MS an RPC counts as a hang; it is given STUCK_FACTOR × that before it is
          // cut, so that the report tells a slow answer (and how slow) from a stuck one.
          const ac = new AbortController();
          const timer = setTimeout(() => ac.abort(), HANG_MS * STUCK_FACTOR);
          const began = Date.now();
          const at = () =>
            `RPC ${i} of client ${ci}, ${((began - t.started) / 1000).toFixed(0)} s in`;
          try {
            await op(c, r, ac.signal, https[ci]);
            const ms = Date.now() - began;
            if (ms > HANG_MS) {
              t.fail(check, "hangs", `${name}: slow, answered after ${ms} ms (${at()})`);
            }
          } catch (e) {
            const ms = Date.now() - began;
            if (ac.signal.aborted) {
              t.fail(check, "hangs", `${name}: stuck, no answer in ${ms} ms (${at()})`);
            } else if (ms > HANG_MS) {
              t.fail(
                check,
                "hangs",
                `${name}: slow, failed after ${ms} ms: ${(e as Error).message} (${at()})`,
              );
            } else if (!(e instanceof ConnectError && LOAD_EARNED.has(e.code))) {
              t.fail(check, "unearned", `${name}: ${(e as Error).message}`);
            }
          } finally {
            clearTimeout(timer);
          }
        }
      }));
    /** Runs RPCs [from, to) of every client, closes their connections, then the figures. */
    const phase = async (from: number, to: number) => {
      connect();
      await Promise.all([
        runRound(from, to),
        check === "load-protocols" ? grpcRound(w, t, check, p, m.runner, from, to, counts) : null,
      ]);
      for (const h of https.splice(0)) h.close();
      return await settled(w.pid);
    };
    // Warm-up: the first half of every client's RPCs (V8 compiles and sizes its heap, which
    // does not shrink again; lazily loaded modules and handlers are made); the figures at its
    // end are the baseline the second half is judged against. A leak keeps growing through the
    // second half; warm-up levels off. (The figures after the first third are printed too.)
    const third = Math.max(1, Math.floor(p.rpcs / 3));
    const half = Math.max(third, Math.floor(p.rpcs / 2));
    const early = await phase(0, third);
    const base = await phase(third, half);
    const t0 = Date.now();
    const after = await phase(half, p.rpcs);
    const secs = (Date.now() - t0) / 1000;
    const done = [...counts].map(([k, v]) => `${k} ${v}`).join(", ");
    const mib = (f: ProcFigures) => (f.rssKiB / 1024).toFixed(1);
    console.error(
      `${check}: ${p.clients} clients × ${p.rpcs} RPCs (${done}); ` +
        `${((p.clients * (p.rpcs - half)) / secs).toFixed(0)} RPC/s after warm-up; ` +
        `after a third, after warm-up (half), at the end: fds ${early.fds} → ${base.fds} → ` +
        `${after.fds}, RSS ${mib(early)} → ${mib(base)} → ${mib(after)} MiB`,
    );
    if (after.fds > base.fds * 1.1) {
      t.fail(check, "leaks", `descriptors ${base.fds} after warm-up, ${after.fds} after the run`);
    }
    // RSS is judged only on runs long enough for V8's heap to level off: measured at 16 clients,
    // 40 RPCs each it still grows (121 → 145 MiB) where 400 each stay level (~175 MiB).
    const judgeRss = check !== "load-fds" && p.rpcs >= RSS_MIN_RPCS;
    if (check !== "load-fds" && !judgeRss) {
      console.error(`${check}: RSS not judged (fewer than ${RSS_MIN_RPCS} RPCs per client)`);
    }
    if (judgeRss && after.rssKiB > base.rssKiB * 1.1) {
      t.fail(
        check,
        "leaks",
        `RSS ${mib(early)} MiB after a third, ${mib(base)} after warm-up (half), ` +
          `${mib(after)} MiB at the end`,
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

const TOP = new URL("../../", import.meta.url).pathname;
let stubs: string | undefined;

/**
 * RPCs [from, to) of a quarter as many native gRPC clients as `p.clients` (grpcio, one process
 * whose threads each hold their own connection, closed when it exits: at the checkpoint), their
 * failures added to `check`'s row and what they ran to `counts` (as "gRPC <method>").
 */
async function grpcRound(
  w: World,
  t: Tally,
  check: string,
  p: LoadParams,
  runner: number,
  from: number,
  to: number,
  counts: Map<string, number>,
): Promise<void> {
  stubs ??= await Deno.makeTempDir({ prefix: "stress-grpc-stubs-" });
  const clients = Math.max(1, Math.floor(p.clients / 4));
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [
      `${TOP}tests/integration/grpc_client.py`,
      `${TOP}proto`,
      stubs,
      `unix:${w.socket}`,
      "load",
      String(clients),
      String(to - from),
      String(p.seed + from),
      String(runner),
      String(HANG_MS / 1000),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = dec.decode(out.stdout).trim();
  if (!out.success || !text) {
    t.fail(check, "unearned", `grpcio load client failed: ${dec.decode(out.stderr).slice(-600)}`);
    return;
  }
  const r = JSON.parse(text.split("\n").pop()!) as {
    rpcs: number;
    counts: Record<string, number>;
    hangs: string[];
    unearned: string[];
    wrong: string[];
    n_hangs: number;
    n_unearned: number;
    n_wrong: number;
  };
  const row = t.row(check);
  row.inputs += r.rpcs;
  for (const kind of ["hangs", "unearned", "wrong"] as const) {
    const n = r[`n_${kind}`];
    r[kind].forEach((e) => t.fail(check, kind, `gRPC ${e}`));
    row[kind] += n - r[kind].length; // counted, not all kept as examples
  }
  for (const [k, v] of Object.entries(r.counts)) {
    counts.set(`gRPC ${k}`, (counts.get(`gRPC ${k}`) ?? 0) + v);
  }
}
