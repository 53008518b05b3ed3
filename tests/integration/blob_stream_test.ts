/**
 * The raw streamed layer upload (PUT /acon.grpc.AconService/blobs/<id>, src/api/blobstream.ts)
 * against the real dist/acond --dev: curl -T, aconctl push, a connection cut half-way and resumed
 * with Content-Range, and the refusals (wrong offset, unknown id, hostile archive, oversize).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type DevDaemon, startDaemon, TOP } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { craftTar } from "../helpers/tarcraft.ts";
import { connect } from "../../src/cli/client.ts";
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
  const layer = await gnuLayer(100);
  const h = sha384(layer);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha384/${h}`]);
    const c = d.client();
    const { uploadId } = await c.beginBlob({ digest: `sha384/${h}`, size: BigInt(layer.length) });
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
  } finally {
    await d.stop();
  }
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
  const layer = await gnuLayer(40);
  const h = sha384(layer);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha384/${h}`]);
    await Deno.writeFile(`${d.dir}/layer.tar`, layer);
    await Deno.writeFile(`${d.dir}/tail`, layer.subarray(1000));
    const c = d.client();
    const { uploadId } = await c.beginBlob({ digest: `sha384/${h}`, size: BigInt(layer.length) });
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
  } finally {
    await d.stop();
  }
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
