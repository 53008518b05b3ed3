/**
 * Bench client for the "ingest" section of scripts/bench: loads a manifest that references the
 * layer, then times the chunked upload (BeginBlob, WriteBlob × n, CommitBlob) of the layer file.
 * Usage: ingest_client.ts <socket> <layer.tar> <sha384hex> [chunkMiB]
 * Prints one JSON line: {"upload_s":…, "commit_s":…, "total_s":…, "client_cpu_s":…, "bytes":…}
 * (client_cpu_s: this process's CPU time from BeginBlob to the end of CommitBlob).
 */
import process from "node:process";
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
const bufs = [new Uint8Array(chunk), new Uint8Array(chunk)];
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const f = await Deno.open(layerPath);
let turn = 0;
/** The next chunk of the file, read into the buffer that is not being sent. */
async function readChunk(): Promise<Uint8Array> {
  const buf = bufs[turn++ % 2];
  let n = 0;
  while (n < chunk) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return buf.subarray(0, n);
}
const { uploadId } = await c.beginBlob({ digest, size: BigInt(size) });
let off = 0;
let next = readChunk();
while (off < size) {
  const data = await next;
  if (data.length === 0) break;
  next = readChunk(); // read ahead while this chunk travels
  await c.writeBlob({ uploadId, offset: BigInt(off), data });
  off += data.length;
}
await next;
f.close();
const t1 = performance.now();
await c.commitBlob({ uploadId, alg: 2 });
const t2 = performance.now();
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({
  upload_s: (t1 - t0) / 1000,
  commit_s: (t2 - t1) / 1000,
  total_s: (t2 - t0) / 1000,
  client_cpu_s: (cpu.user + cpu.system) / 1e6,
  bytes: size,
}));
httpClient.close();
