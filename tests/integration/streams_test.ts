/**
 * Cut streams free what they held, against the real dist/acond --dev: KernelLog (follow), Watch,
 * Logs (follow, of a real busybox container that keeps writing) and the raw layer PUT are each
 * opened and cut by the client many times (the connection closed in each framing: Connect JSON,
 * Connect binary, gRPC-web; curl killed by its timeout; a raw connection closed half-way through
 * a body); the daemon's descriptors (/proc/<pid>/fd) return to what they were, and no /dev/kmsg
 * descriptor is left. The subscriber and waiter counts behind Watch and Logs are checked where
 * they live (tests/unit/streams_test.ts, tests/unit/container/logs_cut_test.ts).
 */
import { assertEquals } from "../helpers/assert.ts";
import { type DevDaemon, startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";
import {
  KernelLogRequestSchema,
  LogsRequestSchema,
  WatchRequestSchema,
} from "../../src/gen/acon_pb.ts";
import { create, toBinary } from "@bufbuild/protobuf";
import { cutStream } from "../helpers/rawstream.ts";

const CUTS = 9;

function fds(pid: number): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/**
 * Waits (bounded) for the daemon's descriptors to come back to `n` or fewer; returns what it
 * has. Fewer counts as back: the baseline may hold a descriptor that was on its way out (a
 * keep-alive connection closed by its 10 s idle deadline after the baseline was taken), and
 * waiting for exactly `n` then misses the moment the count passes it. A leak stays above.
 */
async function settleTo(pid: number, n: number): Promise<string[]> {
  let now = fds(pid);
  // Up to 30 s: an idle keep-alive connection a client left open is closed after 10 s.
  for (let i = 0; i < 300 && now.length > n; i++) {
    await new Promise((r) => setTimeout(r, 100));
    now = fds(pid);
  }
  return now;
}

/** The daemon's descriptors once they stop changing (what the warm-up left has settled). */
async function steady(pid: number): Promise<string[]> {
  let last = fds(pid);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = fds(pid);
    if (now.length === last.length) return now;
    last = now;
  }
  return last;
}

/**
 * A container that writes a line a second (a Logs follower gets output, then waits); with
 * `once`, one line and then nothing (a follower then waits for good).
 */
async function ticker(d: DevDaemon, mark = "tick", once = false): Promise<number> {
  const src = await Deno.makeTempDir({ prefix: "bb-rootfs-" });
  await buildRootfs(src, {});
  const tar = await tarOf(src);
  await Deno.remove(src, { recursive: true });
  const layer = `sha384/${await sha384hex(tar)}`;
  const m = baseManifest({
    layers: [layer],
    entrypoint: [
      "/bin/sh",
      "-c",
      once ? `echo ${mark}; exec sleep 100000` : `while true; do echo ${mark}; sleep 1; done`,
    ],
    env: ["PATH=/bin"],
    signals: [9, 15],
    maxInstances: 0,
    workingDir: "/",
    uids: [],
    logFDs: [1, 2],
  });
  const c = d.client();
  const r = await c.addManifest(await signedManifest(await makeSigner("ec-p384"), m));
  await c.addBlob({ alg: 2, data: tar });
  return (await c.start({ imageId: r.imageId, envs: [] })).containerId;
}

/** A tar of one 1 MiB file (never sent whole). */
async function bigLayer(d: DevDaemon): Promise<Uint8Array> {
  await Deno.mkdir(`${d.dir}/big`);
  await Deno.writeFile(`${d.dir}/big/f`, new Uint8Array(1 << 20).fill(7));
  await new Deno.Command("tar", { args: ["-C", `${d.dir}/big`, "-cf", `${d.dir}/big.tar`, "f"] })
    .output();
  return await Deno.readFile(`${d.dir}/big.tar`);
}

/** A layer digest some loaded manifest references but nobody uploads (the PUTs' target). */
async function pendingLayer(d: DevDaemon, digest: string): Promise<string> {
  const m = baseManifest({ layers: [digest] });
  await d.client().addManifest(await signedManifest(await makeSigner("ec-p384"), m));
  return digest;
}

/**
 * Opens a stream CUTS times in each framing (Connect JSON, Connect binary, gRPC-web), reads a
 * little of it and cuts it by closing the connection, then 4 times with curl killed by its
 * timeout. (Not with connect-es over fetch: Deno 2.9.6's fetch does not always close the
 * connection when the body of a stream with no data arriving is aborted, and the daemon then
 * rightly keeps serving it: the test would count the client's connection as a leak.)
 */
async function cutMany(
  d: DevDaemon,
  what: string,
  binary: Uint8Array,
  curlBody: string | null,
): Promise<void> {
  const framings: [string, string | Uint8Array][] = [
    ["application/connect+json", curlBody ?? "{}"],
    ["application/connect+proto", binary],
    ["application/grpc-web+proto", binary],
  ];
  for (let i = 0; i < CUTS; i++) {
    const [type, message] = framings[i % framings.length];
    // Cut at once, after some of the answer (KernelLog's backlog), or while it waits.
    const s = await cutStream(d.socket, what, message, [0, 50, 300][Math.floor(i / 3) % 3], type);
    if (s.status) assertEquals(s.status, "HTTP/1.1 200 OK", `${what} ${type}`);
  }
  if (curlBody === null) return;
  for (let i = 0; i < 4; i++) {
    // Connect's streaming framing by hand: one envelope with the JSON request.
    const body = new TextEncoder().encode(curlBody);
    const env = new Uint8Array(5 + body.length);
    new DataView(env.buffer).setUint32(1, body.length);
    env.set(body, 5);
    await Deno.writeFile(`${d.dir}/req`, env);
    await new Deno.Command("curl", {
      args: [
        "-sN",
        "--max-time",
        "0.5",
        "--unix-socket",
        d.socket,
        "-H",
        "content-type: application/connect+json",
        "--data-binary",
        `@${d.dir}/req`,
        `http://localhost/acon.grpc.AconService/${what}`,
      ],
      stdout: "null",
      stderr: "null",
    }).output();
  }
}

Deno.test("streams cut by the client free their descriptors: KernelLog, Watch, Logs, raw PUT", async () => {
  const d = await startDaemon();
  try {
    const id = await ticker(d);
    const layer = await bigLayer(d);
    const pending = await pendingLayer(d, `sha384/${await sha384hex(layer)}`);
    const { uploadId } = await d.client().beginBlob({
      digest: pending,
      size: BigInt(layer.length),
    });
    const pid = d.proc.pid;
    const rounds = async () => {
      await cutMany(
        d,
        "KernelLog",
        toBinary(KernelLogRequestSchema, create(KernelLogRequestSchema, { follow: true })),
        '{"follow":true}',
      );
      await cutMany(d, "Watch", toBinary(WatchRequestSchema, create(WatchRequestSchema)), "{}");
      await cutMany(
        d,
        "Logs",
        toBinary(
          LogsRequestSchema,
          create(LogsRequestSchema, { containerId: id, fromStart: false, follow: true }),
        ),
        `{"containerId":${id},"follow":true}`,
      );
      // The raw PUT: a body announced, part of it sent, the connection closed; the next PUT
      // resumes where the daemon got to (one upload: an upload in progress holds its file).
      const c = d.client();
      for (let i = 0; i < 4; i++) {
        let received = (await c.blobStatus({ uploadId })).received;
        const conn = await Deno.connect({ transport: "unix", path: d.socket });
        const w = conn.writable.getWriter();
        const at = Number(received);
        await w.write(
          new TextEncoder().encode(
            `PUT /acon.grpc.AconService/blobs/${uploadId}?offset=${at} HTTP/1.1\r\n` +
              `Host: x\r\nContent-Length: ${layer.length - at}\r\n\r\n`,
          ),
        );
        await w.write(layer.subarray(at, at + 700));
        await new Promise((r) => setTimeout(r, 100));
        await w.close();
        for (let j = 0; j < 50; j++) {
          const now = await c.blobStatus({ uploadId }).catch(() => null);
          if (now && now.received !== received) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        received = (await c.blobStatus({ uploadId })).received;
      }
    };
    await rounds(); // warm-up: every module and lazily made handler is loaded
    const base = await steady(pid);
    await rounds();
    await rounds();
    const after = await settleTo(pid, base.length);
    assertEquals(after.filter((l) => l === "/dev/kmsg"), [], "no /dev/kmsg left open");
    // On a failure, what is new (a once-seen flake: 42 against 41, not reproduced alone).
    const extra = after.filter((l) =>
      !base.includes(l) || after.filter((x) => x === l).length >
        base.filter((x) => x === l).length
    );
    assertEquals(
      after.length <= base.length,
      true,
      `descriptors: ${base.length} before, ${after.length} now; new or more of: ${[
        ...new Set(extra),
      ]}; before: ${base}`,
    );
    // The daemon still serves streams after all that.
    const ac = new AbortController();
    for await (
      const m of d.client().logs({ containerId: id, follow: true }, { signal: ac.signal })
    ) {
      assertEquals(new TextDecoder().decode(m.data).includes("tick"), true);
      ac.abort();
      break;
    }
  } finally {
    await d.stop();
  }
});

Deno.test("Logs follow streams whose client closes the connection free what they held", async () => {
  const d = await startDaemon();
  try {
    // One line, then silence: every follower ends up waiting for output that never comes, the
    // state a stream must be freed from when its client goes.
    const id = await ticker(d, "once", true);
    const pid = d.proc.pid;
    const json = (fromStart: boolean) =>
      `{"containerId":${id},"fromStart":${fromStart},"follow":true}`;
    const first = await cutStream(d.socket, "Logs", json(true), 500);
    assertEquals(first.status, "HTTP/1.1 200 OK", "a follower gets its answer");
    const base = await steady(pid);
    for (let i = 0; i < 24; i++) {
      // Cut at once, after the backlog, or while parked waiting; with and without the backlog.
      const s = await cutStream(d.socket, "Logs", json(i % 2 === 0), [0, 20, 150, 400][i % 4]);
      if (s.status) assertEquals(s.status, "HTTP/1.1 200 OK");
    }
    const after = await settleTo(pid, base.length);
    assertEquals(
      after.length <= base.length,
      true,
      `descriptors: ${base.length} before, now ${after}`,
    );
    // And the daemon still follows a container's output for a client that stays.
    const again = await cutStream(d.socket, "Logs", json(true), 500);
    assertEquals(again.status, "HTTP/1.1 200 OK");
    assertEquals(again.bytes > 0, true);
  } finally {
    await d.stop();
  }
});

/** Processes whose command line contains `mark`. */
function processesWith(mark: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (cmd.includes(mark)) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

Deno.test("SIGTERM with Watch, Logs and KernelLog streams open: the daemon ends them, stops its containers and exits", async () => {
  const d = await startDaemon();
  const mark = `streams-shutdown-${crypto.randomUUID()}`;
  let stopped = false;
  try {
    const id = await ticker(d, mark);
    const c = d.client();
    const ended: string[] = [];
    const drain = async (name: string, it: AsyncIterable<unknown>) => {
      try {
        for await (const _ of it) { /* keep reading */ }
        ended.push(`${name}: ended`);
      } catch (e) {
        ended.push(`${name}: ${(e as Error).message}`);
      }
    };
    const streams = [
      drain("Watch", c.watch({})),
      drain("Logs", c.logs({ containerId: id, fromStart: true, follow: true })),
      drain("KernelLog", c.kernelLog({ follow: true })),
    ];
    assertEquals(processesWith(mark).length > 0, true, "the container runs");
    await new Promise((r) => setTimeout(r, 500)); // the streams are open and waiting
    d.proc.kill("SIGTERM");
    // The helper's bound: SIGKILL after 15 s. A daemon that exits by itself exits with 0.
    const timer = setTimeout(() => d.proc.kill("SIGKILL"), 15000);
    const status = await d.proc.status;
    clearTimeout(timer);
    assertEquals({ code: status.code, signal: status.signal }, { code: 0, signal: null });
    await Promise.all(streams);
    assertEquals(ended.length, 3);
    assertEquals(processesWith(mark), [], "no container process left");
    const mounts = Deno.readTextFileSync("/proc/mounts").split("\n").filter((l) =>
      l.includes(d.root)
    );
    assertEquals(mounts, [], "no mount under the daemon's root left");
    stopped = true;
  } finally {
    await d.stop(); // kills what is left (and the SIGKILL timer) if the test failed early
    if (!stopped) { for (const pid of processesWith(mark)) Deno.kill(pid, "SIGKILL"); }
  }
});

/**
 * `n` KernelLog follow streams multiplexed on one h2c connection (node:http2's client; curl 7.88
 * cannot multiplex prior-knowledge streams), each read for `ms`, then closed: how many were
 * served kernel lines and how many refused with resource_exhausted.
 */
async function kernelLogFanOut(socket: string, n: number, ms: number) {
  const http2 = await import("node:http2");
  const net = await import("node:net");
  const body = new TextEncoder().encode('{"follow":true}');
  const env = new Uint8Array(5 + body.length);
  new DataView(env.buffer).setUint32(1, body.length);
  env.set(body, 5);
  const session = http2.connect("http://localhost", {
    createConnection: () => net.connect({ path: socket }),
  });
  const outcomes = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<string>((resolve) => {
        const st = session.request({
          ":method": "POST",
          ":path": "/acon.grpc.AconService/KernelLog",
          "content-type": "application/connect+json",
        });
        let text = "";
        let settled = false;
        const done = () => {
          if (settled) return;
          settled = true;
          resolve(
            text.includes('"resource_exhausted"')
              ? "refused"
              : text.includes('"line"')
              ? "served"
              : `other: ${text.slice(0, 120)}`,
          );
        };
        st.on("data", (d: Uint8Array) => text += new TextDecoder().decode(d));
        st.on("end", done);
        st.on("error", done);
        setTimeout(() => {
          st.close();
          done();
        }, ms);
        st.end(env);
      })),
  );
  session.close();
  const count = (k: string) => outcomes.filter((o) => o === k).length;
  return {
    refused: count("refused"),
    served: count("served"),
    other: outcomes.filter((o) => o.startsWith("other")),
  };
}

/**
 * 20 KernelLog follow streams on one h2c connection: the daemon-wide cap (16,
 * api/stream_slots.ts) admits 16 and refuses 4 with resource_exhausted; once those streams end
 * the slots are back (a second round gets the same split) and no /dev/kmsg is left open.
 */
Deno.test("KernelLog streams multiplexed on one h2c connection are capped daemon-wide, and the slots come back", async () => {
  const d = await startDaemon();
  try {
    assertEquals(await kernelLogFanOut(d.socket, 20, 2000), { refused: 4, served: 16, other: [] });
    assertEquals(await kernelLogFanOut(d.socket, 20, 2000), { refused: 4, served: 16, other: [] });
    let kmsg = fds(d.proc.pid).filter((l) => l === "/dev/kmsg");
    for (let i = 0; i < 50 && kmsg.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      kmsg = fds(d.proc.pid).filter((l) => l === "/dev/kmsg");
    }
    assertEquals(kmsg, [], "no /dev/kmsg left open");
    // Below the cap, nothing is refused.
    assertEquals(await kernelLogFanOut(d.socket, 10, 1000), { refused: 0, served: 10, other: [] });
  } finally {
    await d.stop();
  }
});
