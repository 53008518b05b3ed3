/**
 * The streamed binary unary AddBlob (src/api/addblob_stream.ts) against the real dist/acond --dev:
 * the same layer, measured and placed the same, as through the raw streamed PUT; a body cut
 * half-way leaves nothing (no staging directory, no layer) and the daemon answers; what a stream
 * cannot follow (a second data field) and malformed wire are refused with invalid_argument.
 */
import { createHash } from "node:crypto";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type DevDaemon, startDaemon } from "../helpers/daemon.ts";
import { bigLayer } from "../helpers/big_layer.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { connect } from "../../src/cli/client.ts";
import { sendLayer } from "../../src/cli/images.ts";

const sha = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest("hex");
const PATH = "/acon.grpc.AconService/AddBlob";

async function loadManifest(d: DevDaemon, layers: string[]) {
  const m = await signedManifest(await makeSigner("ec-p384"), baseManifest({ layers }));
  await d.client().addManifest({ ...m });
}

function names(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Every entry under `dir`: path, mode, size and content digest (the layer as placed). */
function tree(dir: string, at = ""): string[] {
  const out: string[] = [];
  for (const n of names(`${dir}${at}`)) {
    const p = `${at}/${n}`;
    const st = Deno.lstatSync(`${dir}${p}`);
    const digest = st.isFile ? sha("sha256", Deno.readFileSync(`${dir}${p}`)) : "";
    out.push(`${p} ${st.mode} ${st.uid}:${st.gid} ${st.size} ${digest}`);
    if (st.isDirectory) out.push(...tree(dir, p));
  }
  return out;
}

/** The AddBlobRequest {alg, data} as protobuf writes it, without building it in one piece. */
function header(alg: number, length: number): Uint8Array {
  const out = [0x08, alg, 0x12];
  for (let n = length;; n = Math.floor(n / 128)) {
    if (n < 128) {
      out.push(n);
      break;
    }
    out.push((n & 0x7f) | 0x80);
  }
  return new Uint8Array(out);
}

function post(d: DevDaemon, body: Uint8Array): Promise<Response> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
  return fetch(`http://localhost${PATH}`, {
    method: "POST",
    headers: { "content-type": "application/proto" },
    body: body as Uint8Array<ArrayBuffer>,
    client,
  }).finally(() => client.close());
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  assert(ok(), what);
}

Deno.test("AddBlob streamed: the same layer, digests and log as the raw PUT; gRPC-web too", async () => {
  const layer = await bigLayer(5, 7); // 5 MiB: five stream batches
  const h384 = sha("sha384", layer);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha384/${h384}`]);
    const dir = `${d.root}/contents/sha384/${h384}`;
    const placed = () => [
      ...tree(dir),
      Deno.readLinkSync(`${d.root}/contents/sha256/${sha("sha256", layer)}`),
      Deno.readLinkSync(`${d.root}/contents/sha512/${sha("sha512", layer)}`),
    ];
    const logged = () => d.stderr().split("\n").filter((l) => l.includes(`layer sha384/${h384}:`));

    await d.client("connect-binary").addBlob({ alg: 7, data: layer });
    const streamed = placed();
    assertEquals(logged().length, 1);
    assertEquals(names(`${d.root}/tmp`), []);
    Deno.removeSync(`${d.root}/contents`, { recursive: true });

    const c = connect(`unix:${d.socket}`);
    await Deno.writeFile(`${d.dir}/layer.tar`, layer);
    const { uploadId } = await c.beginBlob({
      digest: `sha384/${h384}`,
      size: BigInt(layer.length),
      alg: 7,
    });
    await sendLayer(c, uploadId, `${d.dir}/layer.tar`, layer.length);
    await c.commitBlob({ uploadId, alg: 7 });
    assertEquals(placed(), streamed);
    assertEquals(streamed.filter((l) => l.startsWith("/data/f")).length, 5);
    const [a, b] = logged();
    assertEquals(a.slice(a.indexOf("acond[")), b.slice(b.indexOf("acond[")));
    Deno.removeSync(`${d.root}/contents`, { recursive: true });

    await d.client("grpc-web").addBlob({ alg: 7, data: layer });
    assertEquals(placed(), streamed);
    assertEquals(names(`${d.root}/tmp`), []);
  } finally {
    await d.stop();
  }
});

Deno.test("AddBlob streamed: a body cut half-way leaves no staging and no layer", async () => {
  const layer = await bigLayer(6, 8);
  const h384 = sha("sha384", layer);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha384/${h384}`]);
    const head = header(2, layer.length);
    const conn = await Deno.connect({ transport: "unix", path: d.socket });
    const w = conn.writable.getWriter();
    await w.write(
      new TextEncoder().encode(
        `POST ${PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/proto\r\n` +
          `Content-Length: ${head.length + layer.length}\r\n\r\n`,
      ),
    );
    await w.write(head);
    await w.write(layer.subarray(0, 3 * 1024 * 1024 + 1234));
    // The daemon has begun extracting: a staging directory exists.
    await until("staging begun", () => names(`${d.root}/tmp`).length === 1);
    await w.close(); // the connection ends with the body short
    await until("staging removed", () => names(`${d.root}/tmp`).length === 0);
    assertEquals(names(`${d.root}/contents`), []);
    assertEquals((await d.client().health({})).tee, "sim");
    assert(!d.stderr().includes("unexpected"), d.stderr());
    // And the whole layer goes in afterwards.
    await d.client().addBlob({ alg: 2, data: layer });
    assertEquals(names(`${d.root}/contents/sha384/${h384}/data`).length, 6);
  } finally {
    await d.stop();
  }
});

Deno.test("AddBlob streamed: data twice, malformed wire, oversize: refused, nothing left", async () => {
  const layer = await bigLayer(2, 9);
  const h384 = sha("sha384", layer);
  const d = await startDaemon({ args: ["--max-request", "3"] });
  try {
    await loadManifest(d, [`sha384/${h384}`]);
    const twice = new Uint8Array([...header(2, layer.length), ...layer, ...header(2, 3), 1, 2, 3]);
    let r = await post(d, twice);
    let body = await r.json();
    assertEquals([r.status, body.code], [400, "invalid_argument"]);
    assert(/data given twice/.test(body.message), body.message);

    r = await post(d, new Uint8Array([0x0a, 0x01, 0x00])); // alg as a length-delimited field
    body = await r.json();
    assertEquals([r.status, body.code], [400, "invalid_argument"]);
    assert(/^Malformed request: field 1 has wire type 2/.test(body.message), body.message);

    const big = await bigLayer(4, 10); // 4 MiB of data, over --max-request 3 (MiB)
    await loadManifest(d, [`sha384/${sha("sha384", big)}`]);
    r = await post(d, new Uint8Array([...header(2, big.length), ...big]));
    body = await r.json();
    assertEquals([r.status, body.code], [429, "resource_exhausted"]);
    assert(/exceeds --max-request/.test(body.message), body.message);

    assertEquals(names(`${d.root}/contents`), []);
    await until("no staging", () => names(`${d.root}/tmp`).length === 0);
  } finally {
    await d.stop();
  }
});
