/**
 * The raw streamed layer upload (PUT /acon.grpc.AconService/blobs/<id>, src/api/blobstream.ts)
 * against the real dist/acond --dev: curl -T, aconctl push, a connection cut half-way and resumed
 * with Content-Range, and the refusals (wrong offset, unknown id, hostile archive, oversize).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { type DevDaemon, startDaemon, TOP } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { craftTar } from "../helpers/tarcraft.ts";
import { type AconClient, connect } from "../../src/cli/client.ts";
import { sendLayer } from "../../src/cli/images.ts";

const sha384 = (b: Uint8Array) => createHash("sha384").update(b).digest("hex");
const PREFIX = "/acon.grpc.AconService/blobs/";

/** A GNU tar layer of `n` files of a few KiB to ~60 KiB (several stream batches in all). */
async function gnuLayer(n: number): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "layer-src-" });
  try {
    await Deno.mkdir(`${dir}/tree/d`, { recursive: true });
    for (let i = 0; i < n; i++) {
      const data = new Uint8Array(3000 + ((i * 7919) % 60000));
      for (let j = 0; j < data.length; j += 97) data[j] = (i + j) & 0xff;
      await Deno.writeFile(`${dir}/tree/d/f${i}`, data);
    }
    const r = await new Deno.Command("tar", {
      args: ["-C", `${dir}/tree`, "-cf", `${dir}/layer.tar`, "."],
    }).output();
    assert(r.success, new TextDecoder().decode(r.stderr));
    return await Deno.readFile(`${dir}/layer.tar`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function loadManifest(d: DevDaemon, layers: string[]) {
  const m = await signedManifest(await makeSigner("ec-p384"), baseManifest({ layers }));
  await d.client().addManifest({ ...m });
  return m;
}

/**
 * A daemon (with `args`) that has a manifest naming a GNU layer of `files` files, and an upload of
 * that layer begun; `run` gets them, and the daemon is stopped after.
 */
async function withUpload(
  files: number,
  args: string[],
  run: (
    u: { d: DevDaemon; c: AconClient; layer: Uint8Array; h: string; uploadId: string },
  ) => Promise<void>,
) {
  const layer = await gnuLayer(files);
  const h = sha384(layer);
  const d = await startDaemon({ args });
  try {
    await loadManifest(d, [`sha384/${h}`]);
    const c = d.client();
    const { uploadId } = await c.beginBlob({ digest: `sha384/${h}`, size: BigInt(layer.length) });
    await run({ d, c, layer, h, uploadId });
  } finally {
    await d.stop();
  }
}

interface Put {
  status: number;
  body: Record<string, unknown>;
}

/** curl -T FILE -X PUT over the socket, with extra curl arguments. */
async function curlPut(
  d: DevDaemon,
  file: string,
  path: string,
  extra: string[] = [],
): Promise<Put> {
  const r = await new Deno.Command("curl", {
    args: [
      "-sS",
      "--unix-socket",
      d.socket,
      "-T",
      file,
      "-X",
      "PUT",
      ...extra,
      "-w",
      "\n%{http_code}",
      `http://localhost${path}`,
    ],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(r.stdout);
  const nl = text.lastIndexOf("\n");
  assert(r.success, `curl: ${new TextDecoder().decode(r.stderr)} ${text}`);
  return { status: Number(text.slice(nl + 1)), body: JSON.parse(text.slice(0, nl)) };
}

function walk(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Sends a request head announcing `total` body bytes, then only `part`, then cuts the connection. */
async function putThenCut(socket: string, id: string, total: number, part: Uint8Array) {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const head = `PUT ${PREFIX}${id} HTTP/1.1\r\nHost: localhost\r\n` +
    `Content-Length: ${total}\r\nContent-Range: bytes 0-*/${total}\r\n\r\n`;
  const w = conn.writable.getWriter();
  await w.write(new TextEncoder().encode(head));
  await w.write(part);
  await w.close(); // closes the connection: the daemon sees the body end early
}

Deno.test("blob stream: curl -T with ?offset, aconctl push, then CommitBlob places the layer", async () => {
  const layer = await gnuLayer(150); // ~4.7 MiB: several batches
  const other = await gnuLayer(60);
  const [h, o] = [sha384(layer), sha384(other)];
  const d = await startDaemon();
  try {
    const m = await loadManifest(d, [`sha384/${h}`, `sha384/${o}`]);
    await Deno.writeFile(`${d.dir}/layer.tar`, layer);
    const c = d.client();
    const { uploadId } = await c.beginBlob({ digest: `sha384/${h}`, size: BigInt(layer.length) });
    const put = await curlPut(d, `${d.dir}/layer.tar`, `${PREFIX}${uploadId}?offset=0`);
    assertEquals(put, { status: 200, body: { uploadId, received: layer.length } });
    assertEquals((await c.blobStatus({ uploadId })).received, BigInt(layer.length));
    await c.commitBlob({ uploadId, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h}/d`).length, 150);
    const f7 = await Deno.readFile(`${d.root}/contents/sha384/${h}/d/f7`);
    assertEquals(f7.length, 3000 + 7 * 7919);

    // aconctl push streams the other layer the same way (the only layer still missing).
    await Deno.writeTextFile(`${d.dir}/m.json`, m.manifest);
    await Deno.writeFile(`${d.dir}/m.sig`, m.signature);
    await Deno.writeFile(`${d.dir}/cert.der`, m.certificate);
    await Deno.writeFile(`${d.dir}/other.tar`, other);
    const out = await new Deno.Command(`${TOP}/dist/aconctl`, {
      args: ["--socket", d.socket, "push", "-q", "--json"].concat(
        ["m.json", "m.sig", "cert.der", "other.tar", "layer.tar"].map((f) => `${d.dir}/${f}`),
      ),
      stdin: "null",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)).unresolved, []);
    assertEquals(walk(`${d.root}/contents/sha384/${o}/d`).length, 60);
    assertEquals(walk(`${d.root}/uploads`), []);
    assertEquals(walk(`${d.root}/tmp`), []);
  } finally {
    await d.stop();
  }
});

Deno.test("blob stream: a cut connection keeps what arrived; Content-Range resumes it", async () => {
  await withUpload(100, [], async ({ d, c, layer, h, uploadId }) => {
    const half = Math.floor(layer.length / 2) + 12345; // not on a batch boundary
    await putThenCut(d.socket, uploadId, layer.length, layer.subarray(0, half));
    // The daemon reads what was sent, then sees the cut: until then the upload is busy (409).
    await Deno.writeFile(`${d.dir}/rest`, layer.subarray(half));
    let put: Put | undefined;
    for (let i = 0; i < 100; i++) {
      const received = Number((await c.blobStatus({ uploadId })).received);
      if (received === half) {
        put = await curlPut(d, `${d.dir}/rest`, `${PREFIX}${uploadId}`, [
          "-H",
          `Content-Range: bytes ${half}-*/${layer.length}`,
        ]);
        if (put.status !== 409) break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(put, { status: 200, body: { uploadId, received: layer.length } });
    // CommitBlob checks the sha384 of all the bytes: the resumed stream is the whole layer.
    await c.commitBlob({ uploadId, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h}/d`).length, 100);
    // A cut connection is an ordinary event, not an internal error.
    assert(!d.stderr().includes("unexpected"), d.stderr());
  });
});

Deno.test("blob stream: aconctl's sendLayer resumes from BlobStatus when out of step", async () => {
  const layer = await gnuLayer(50);
  const h = sha384(layer);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha384/${h}`]);
    await Deno.writeFile(`${d.dir}/layer.tar`, layer);
    await Deno.writeFile(`${d.dir}/head`, layer.subarray(0, 70_000));
    const c = connect(`unix:${d.socket}`);
    const { uploadId } = await c.beginBlob({ digest: `sha384/${h}`, size: BigInt(layer.length) });
    // Someone (an earlier, interrupted run) already sent the head: sendLayer's first PUT from 0
    // is refused (wrong offset), it asks BlobStatus and sends the rest.
    assertEquals((await curlPut(d, `${d.dir}/head`, `${PREFIX}${uploadId}`)).status, 200);
    const seen: number[] = [];
    await sendLayer(c, uploadId, `${d.dir}/layer.tar`, layer.length, (n) => seen.push(n));
    // Only a resume from 70 000 can complete: a PUT from anywhere else is refused.
    assertEquals(seen.at(-1), layer.length);
    assertEquals((await c.blobStatus({ uploadId })).received, BigInt(layer.length));
    await c.commitBlob({ uploadId, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h}/d`).length, 50);
  } finally {
    await d.stop();
  }
});

Deno.test("blob stream: wrong offset, unknown id, bad method, oversize: refused, upload intact", async () => {
  await withUpload(40, [], async ({ d, c, layer, h, uploadId }) => {
    await Deno.writeFile(`${d.dir}/layer.tar`, layer);
    await Deno.writeFile(`${d.dir}/tail`, layer.subarray(1000));
    const url = `${PREFIX}${uploadId}`;
    // Wrong offset: the WriteBlob rule and message, as a Connect JSON error with HTTP 400.
    assertEquals(
      await curlPut(d, `${d.dir}/tail`, url, ["-H", `Content-Range: bytes 1000-*/${layer.length}`]),
      {
        status: 400,
        body: { code: "invalid_argument", message: "Wrong offset 1000: expected offset 0" },
      },
    );
    assertEquals(
      await curlPut(d, `${d.dir}/layer.tar`, `${url}?offset=5`, [
        "-H",
        `Content-Range: bytes 0-*/${layer.length}`,
      ]),
      {
        status: 400,
        body: {
          code: "invalid_argument",
          message: "offset=5 disagrees with Content-Range start 0",
        },
      },
    );
    // Unknown and malformed ids.
    const gone = { code: "not_found", message: "Unknown or expired upload id" };
    assertEquals(await curlPut(d, `${d.dir}/tail`, `${PREFIX}${"0".repeat(32)}`), {
      status: 404,
      body: gone,
    });
    assertEquals(await curlPut(d, `${d.dir}/tail`, `${PREFIX}not-an-upload-id`), {
      status: 404,
      body: gone,
    });
    // Oversize: a total that is not BeginBlob's size; a body longer than the blob, with a length
    // (refused before reading) and without one (chunked encoding: refused while streaming).
    assertEquals(
      await curlPut(d, `${d.dir}/layer.tar`, url, [
        "-H",
        `Content-Range: bytes 0-*/${layer.length + 1}`,
      ]),
      {
        status: 400,
        body: {
          code: "invalid_argument",
          message: `Total size ${layer.length + 1} differs from the declared size ${layer.length}`,
        },
      },
    );
    await Deno.writeFile(`${d.dir}/long`, new Uint8Array([...layer, ...new Uint8Array(2 << 20)]));
    const beyond = {
      status: 400,
      body: { code: "invalid_argument", message: `Data beyond the declared size ${layer.length}` },
    };
    assertEquals(await curlPut(d, `${d.dir}/long`, url), beyond);
    assertEquals((await c.blobStatus({ uploadId })).received, 0n);
    assertEquals(
      await curlPut(d, `${d.dir}/long`, url, ["-H", "Transfer-Encoding: chunked"]),
      beyond,
    );
    // Not PUT.
    const get = await new Deno.Command("curl", {
      args: ["-sS", "--unix-socket", d.socket, "-w", "\n%{http_code}", `http://localhost${url}`],
    }).output();
    assert(new TextDecoder().decode(get.stdout).endsWith("\n405"));
    // The upload survived all of that: resume from where it stands and commit.
    const at = Number((await c.blobStatus({ uploadId })).received);
    await Deno.writeFile(`${d.dir}/rest`, layer.subarray(at));
    assertEquals(
      await curlPut(d, `${d.dir}/rest`, url, [
        "-H",
        `Content-Range: bytes ${at}-*/${layer.length}`,
      ]),
      { status: 200, body: { uploadId, received: layer.length } },
    );
    await c.commitBlob({ uploadId, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h}/d`).length, 40);
  });
});

Deno.test("blob stream: a hostile archive is refused, changes nothing, BlobStatus says why", async () => {
  // The refused entry first, then more than the daemon queues: the stream must be stopped early.
  const head = craftTar([{ name: "../evil", data: "x" }], false);
  const blob = new Uint8Array(24 << 20);
  blob.set(head);
  const h = sha384(blob);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha384/${h}`]);
    await Deno.writeFile(`${d.dir}/evil.tar`, blob);
    const c = d.client();
    const { uploadId } = await c.beginBlob({ digest: `sha384/${h}`, size: BigInt(blob.length) });
    const why = `Invalid layer archive: path contains '..' (entry "../evil")`;
    // curl sees the answer, or (the daemon stops reading early) a cut connection.
    const r = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--unix-socket",
        d.socket,
        "-T",
        `${d.dir}/evil.tar`,
        "-X",
        "PUT",
        "-w",
        "\n%{http_code}",
        `http://localhost${PREFIX}${uploadId}`,
      ],
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(r.stdout);
    if (r.success) {
      assertEquals(text, `${JSON.stringify({ code: "invalid_argument", message: why })}\n400`);
    }
    let e: unknown;
    await c.blobStatus({ uploadId }).catch((x) => (e = x));
    assert(e instanceof ConnectError, "BlobStatus must fail on a refused upload");
    assertEquals([e.code, e.rawMessage], [Code.InvalidArgument, why]);
    assertEquals(walk(`${d.root}/contents`), []);
    assertEquals(walk(`${d.root}/uploads`), []);
    await new Promise((r) => setTimeout(r, 50)); // the aborted extraction removes its staging dir
    assertEquals(walk(`${d.root}/tmp`), []);
    assertEquals((await c.health({})).tee, "sim");
  } finally {
    await d.stop();
  }
});

/**
 * One request written by hand on a fresh connection (`parts` in turn, `pauseMs` between them);
 * the answer is everything read until the daemon closes (status, body as text).
 */
async function rawRequest(
  d: DevDaemon,
  parts: (string | Uint8Array)[],
  pauseMs = 0,
): Promise<{ status: number; text: string; raw: string }> {
  const c = await Deno.connect({ transport: "unix", path: d.socket });
  const enc = new TextEncoder();
  const reading = (async () => {
    const out: number[] = [];
    const buf = new Uint8Array(64 << 10);
    for (;;) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) return new TextDecoder().decode(new Uint8Array(out));
      out.push(...buf.subarray(0, n));
    }
  })();
  for (const p of parts) {
    const b = typeof p === "string" ? enc.encode(p) : p;
    try {
      for (let at = 0; at < b.length;) at += await c.write(b.subarray(at));
    } catch { /* the daemon closed: its answer says why */ }
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  const raw = await reading;
  c.close();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
  return { status, text: raw.slice(raw.indexOf("\r\n\r\n") + 4), raw };
}

const head = (uploadId: string, headers: string[]) =>
  [`PUT ${PREFIX}${uploadId} HTTP/1.1`, "host: localhost", ...headers, "", ""].join("\r\n");

Deno.test("blob stream: Expect 100-continue, and a chunked body with extensions and a trailer", async () => {
  await withUpload(80, [], async ({ d, c, layer, h, uploadId }) => {
    // curl waits for the 100 Continue before it sends the body.
    const half = Math.floor(layer.length / 2);
    await Deno.writeFile(`${d.dir}/head`, layer.subarray(0, half));
    assertEquals(
      (await curlPut(d, `${d.dir}/head`, `${PREFIX}${uploadId}`, ["-H", "Expect: 100-continue"]))
        .body.received,
      half,
    );
    // The rest by hand, chunked, in uneven chunks with an extension, then a trailer.
    const rest = layer.subarray(half);
    const parts: (string | Uint8Array)[] = [
      head(uploadId, [
        "transfer-encoding: chunked",
        `content-range: bytes ${half}-*/${layer.length}`,
      ]),
    ];
    for (let at = 0, i = 0; at < rest.length; i++) {
      const n = Math.min(rest.length - at, 1 + ((i * 40_009) % 300_000));
      parts.push(`${n.toString(16)}${i % 3 === 0 ? ";ext=1" : ""}\r\n`, rest.subarray(at, at + n));
      parts.push("\r\n");
      at += n;
    }
    parts.push("0\r\nx-trailer: yes\r\n\r\n");
    const r = await rawRequest(d, parts);
    assertEquals(r.status, 200, r.raw);
    assertEquals(JSON.parse(r.text).received, layer.length);
    await c.commitBlob({ uploadId, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h}/d`).length, 80);
  });
});

Deno.test("blob stream: hostile heads and framings are refused, the upload keeps what is valid", async () => {
  await withUpload(40, ["--body-timeout", "1"], async ({ d, c, layer, h, uploadId }) => {
    const received = async () => Number((await c.blobStatus({ uploadId })).received);
    const range = (from: number) => `content-range: bytes ${from}-*/${layer.length}`;

    // A bad chunk size after a good chunk: what came before it is kept, the answer says where.
    let r = await rawRequest(d, [
      head(uploadId, ["transfer-encoding: chunked", range(0)]),
      "3e8\r\n",
      layer.subarray(0, 1000),
      "\r\nzz\r\n",
    ]);
    assertEquals(r.status, 400, r.raw);
    assertMatch(JSON.parse(r.text).message, /broke off at 1000 bytes/);
    assertEquals(await received(), 1000);

    // Endless trailers end the body.
    const trailers = Array.from({ length: 100 }, (_, i) => `x-t${i}: ${i}\r\n`).join("");
    r = await rawRequest(d, [
      head(uploadId, ["transfer-encoding: chunked", range(1000)]),
      "a\r\n",
      layer.subarray(1000, 1010),
      "\r\n0\r\n",
      trailers,
      "\r\n",
    ]);
    assertEquals(r.status, 400, r.raw);
    assertMatch(JSON.parse(r.text).message, /too many trailers/);

    // Both framings at once, and a target with dot segments: left to Deno's engine, which
    // refuses the one and routes the other by its normalised path; nothing reaches the upload.
    const kept = await received();
    r = await rawRequest(d, [
      head(uploadId, ["transfer-encoding: chunked", "content-length: 5", range(kept)]),
      "5\r\nhello\r\n0\r\n\r\n",
    ]);
    assert(r.status >= 400, r.raw);
    r = await rawRequest(d, [
      `PUT ${PREFIX}${uploadId}/../../Health HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n` +
      "connection: close\r\n\r\n{}",
    ]);
    assert(r.status !== 0, "answered");
    assertEquals(await received(), kept);

    // A sender that stops mid-body: cut after --body-timeout, what arrived is kept.
    const t0 = Date.now();
    const start = new TextEncoder().encode(
      head(uploadId, [`content-length: ${layer.length - kept}`, range(kept)]),
    );
    const first = new Uint8Array(start.length + 5000);
    first.set(start);
    first.set(layer.subarray(kept, kept + 5000), start.length);
    r = await rawRequest(d, [first], 2500);
    assert(Date.now() - t0 >= 2500);
    assertEquals(await received(), kept + 5000, r.raw);

    // And the rest completes the upload.
    await Deno.writeFile(`${d.dir}/tail`, layer.subarray(kept + 5000));
    const put = await curlPut(d, `${d.dir}/tail`, `${PREFIX}${uploadId}`, [
      "-H",
      range(kept + 5000),
    ]);
    assertEquals(put.body.received, layer.length);
    await c.commitBlob({ uploadId, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h}/d`).length, 40);
    assert(!d.stderr().includes("unexpected"), d.stderr());
  });
});
