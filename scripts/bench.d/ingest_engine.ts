/**
 * Bench helper for the "ingest" section: acond's extraction engine alone (no RPC), as CommitBlob
 * runs it: the layer file read in 8 MiB chunks into a StreamReader that hashes (sha384) and
 * extracts in one pass. Usage: ingest_engine.ts <layer.tar> <empty dest dir>; prints seconds.
 */
import { extractTar, hashers, StreamReader } from "../../src/image/tar.ts";

const [layer, dest] = Deno.args;
const t0 = performance.now();
const hs = hashers(["sha384"]);
const stream = new StreamReader([...hs.values()]);
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
  await stream.waitForSpace(16 << 20);
}
f.close();
stream.end();
await done;
hs.get("sha384")!.digest("hex");
console.log((performance.now() - t0) / 1000);
