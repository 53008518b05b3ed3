/**
 * Bench helper for the "ingest" section: acond's extraction engine alone (no RPC), as an upload
 * runs it: the layer file read in 8 MiB chunks into a StreamReader that hashes (sha384, worker
 * thread) and extracts in one pass. Usage: ingest_engine.ts <layer.tar> <empty dest dir>; prints
 * seconds.
 */
import { extractTar } from "../../src/image/tar/extract.ts";
import { StreamReader } from "../../src/image/tar/reader.ts";
import { WorkerHasher } from "../../src/image/upload/hasher.ts";

const [layer, dest] = Deno.args;
const t0 = performance.now();
const hasher = new WorkerHasher(["sha384"]);
const stream = new StreamReader([hasher]);
const done = extractTar(stream, dest);
const f = await Deno.open(layer);
for (;;) {
  const buf = new Uint8Array(8 << 20);
  let n = 0;
  while (n < buf.length) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  if (n === 0) break;
  stream.push(buf.subarray(0, n));
  await Promise.all([stream.waitForSpace(16 << 20), hasher.waitForBacklog(16 << 20)]);
}
f.close();
stream.end();
await done;
await hasher.digest();
console.log((performance.now() - t0) / 1000);
