/**
 * Bench client for the "ingest" section of scripts/bench: loads a manifest that references the
 * layer, then times the upload of the layer file the way aconctl push does it (BeginBlob, the file
 * streamed as a raw PUT, CommitBlob: src/cli/images.ts), or with WriteBlob chunks.
 * Usage: ingest_client.ts <socket> <layer.tar> <sha384hex> [stream|chunked]
 * Prints one JSON line: {"upload_s":…, "commit_s":…, "total_s":…, "client_cpu_s":…, "bytes":…}
 * (client_cpu_s: this process's CPU time from BeginBlob to the end of CommitBlob).
 */
import process from "node:process";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import { connect } from "../../src/cli/client.ts";
import { sendLayer } from "../../src/cli/images.ts";
import { makeSigner } from "../../tests/helpers/pki.ts";
import { baseManifest, signedManifest } from "../../tests/helpers/image.ts";

const [socket, layerPath, hex, mode = "stream"] = Deno.args;
// "chunked": a client without plain HTTP access, so sendLayer uses WriteBlob (4 MiB chunks).
const httpClient = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
const c = mode === "chunked"
  ? createClient(
    AconService,
    createConnectTransport({
      baseUrl: "http://localhost",
      useBinaryFormat: true,
      fetch: (input, init) => fetch(input, { ...init, client: httpClient }),
    }),
  )
  : connect(`unix:${socket}`);
const digest = `sha384/${hex}`;
const m = await signedManifest(await makeSigner("ec-p384"), baseManifest({ layers: [digest] }));
await c.addManifest({ manifest: m.manifest, signature: m.signature, certificate: m.certificate });

const size = (await Deno.stat(layerPath)).size;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const { uploadId } = await c.beginBlob({ digest, size: BigInt(size) });
await sendLayer(c, uploadId, layerPath, size);
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
