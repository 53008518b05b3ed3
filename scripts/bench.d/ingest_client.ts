/**
 * Bench client for the "ingest" section of scripts/bench: loads a manifest that references the
 * layer, then times the chunked upload (BeginBlob, WriteBlob × n, CommitBlob) of the layer file.
 * Usage: ingest_client.ts <socket> <layer.tar> <sha384hex> [chunkMiB]
 * Prints one JSON line: {"upload_s":…, "commit_s":…, "total_s":…, "bytes":…}
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import { makeSigner } from "../../tests/helpers/pki.ts";
import { baseManifest, signedManifest } from "../../tests/helpers/image.ts";

const [socket, layerPath, hex, chunkMiB = "8"] = Deno.args;
const httpClient = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
const c = createClient(
  AconService,
  createConnectTransport({
    baseUrl: "http://localhost",
    useBinaryFormat: true,
    fetch: (input, init) => fetch(input, { ...init, client: httpClient }),
  }),
);
const digest = `sha384/${hex}`;
const m = await signedManifest(await makeSigner("ec-p384"), baseManifest({ layers: [digest] }));
await c.addManifest({ manifest: m.manifest, signature: m.signature, certificate: m.certificate });

const size = (await Deno.stat(layerPath)).size;
const chunk = Number(chunkMiB) << 20;
const buf = new Uint8Array(chunk);
const t0 = performance.now();
const f = await Deno.open(layerPath);
const { uploadId } = await c.beginBlob({ digest, size: BigInt(size) });
let off = 0;
while (off < size) {
  let n = 0;
  while (n < chunk) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  await c.writeBlob({ uploadId, offset: BigInt(off), data: buf.subarray(0, n) });
  off += n;
}
f.close();
const t1 = performance.now();
await c.commitBlob({ uploadId, alg: 2 });
const t2 = performance.now();
console.log(JSON.stringify({
  upload_s: (t1 - t0) / 1000,
  commit_s: (t2 - t1) / 1000,
  total_s: (t2 - t0) / 1000,
  bytes: size,
}));
httpClient.close();
