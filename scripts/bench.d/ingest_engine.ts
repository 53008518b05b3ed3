/**
 * Bench helper for the "ingest" section: acond's extraction engine alone (no RPC), as a streamed
 * upload runs it: the layer file read into reused shared batches (STREAM_BATCH bytes, a BatchPool)
 * pushed into a StreamReader that hashes (sha384, worker thread, in place) and extracts in one
 * pass. Usage: ingest_engine.ts <layer.tar> <empty dest dir>; prints seconds.
 */
import { extractTar } from "../../src/image/tar/extract.ts";
import { StreamReader } from "../../src/image/tar/reader.ts";
import { newLayerHasher } from "../../src/image/upload/hasher.ts";
import { BatchPool } from "../../src/image/upload/pool.ts";
import { STREAM_BATCH } from "../../src/image/upload/body.ts";

const [layer, dest] = Deno.args;
const t0 = performance.now();
const pool = new BatchPool(STREAM_BATCH);
const release = (c: Uint8Array) => pool.release(c);
const hasher = newLayerHasher(["sha384"], release);
const stream = new StreamReader([hasher], release);
const done = extractTar(stream, dest);
const f = await Deno.open(layer);
for (;;) {
  const buf = pool.take();
  let n = 0;
  while (n < buf.length) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  if (n === 0) break;
  const chunk = buf.subarray(0, n);
  pool.lend(chunk, 2);
  stream.push(chunk);
  await Promise.all([stream.waitForSpace(16 << 20), hasher.waitForBacklog(16 << 20)]);
}
f.close();
stream.end();
await done;
await hasher.digest();
console.log((performance.now() - t0) / 1000);
