/**
 * The reused batches of a streamed upload (src/image/upload/pool.ts) and the hash worker reading
 * them in place (src/image/upload/hasher.ts): a batch is reused only once every reader gave it
 * back, and the digests are node:crypto's whatever the chunking.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { assert, assertEquals, assertRejects, assertThrows } from "../../helpers/assert.ts";
import { BatchPool } from "../../../src/image/upload/pool.ts";
import { NativeHasher, WorkerHasher } from "../../../src/image/upload/hasher.ts";
import type { HashAlg } from "../../../src/digest.ts";

Deno.test("BatchPool: a batch comes back only when every holder released it; foreign views ignored", () => {
  const pool = new BatchPool(1024, 2);
  const a = pool.take();
  assert(a.buffer instanceof SharedArrayBuffer);
  assertEquals(a.length, 1024);
  pool.lend(a.subarray(0, 10), 2);
  assertThrows(() => pool.lend(a, 2), /lent twice/);
  pool.release(a.subarray(0, 10));
  assertEquals(pool.free, 0, "one holder left");
  const b = pool.take();
  assert(b.buffer !== a.buffer, "a held batch is never handed out again");
  pool.release(a);
  assertEquals(pool.free, 1);
  pool.release(a); // a stray second release changes nothing
  assertEquals(pool.free, 1);
  assertEquals(pool.take().buffer, a.buffer, "reused");
  // Anything the pool did not make is neither lent nor kept.
  const foreign = new Uint8Array(new SharedArrayBuffer(1024));
  pool.lend(foreign, 1);
  pool.release(foreign);
  pool.release(new Uint8Array(1024));
  assertEquals(pool.free, 0);
  // At most `keep` free batches are kept.
  const many = [pool.take(), pool.take(), pool.take()];
  for (const m of many) pool.lend(m, 1);
  for (const m of many) pool.release(m);
  assertEquals(pool.free, 2);
});

for (const Hasher of [NativeHasher, WorkerHasher]) {
  Deno.test(`${Hasher.name}: shared chunks are hashed in place, each given back once, in order, after it is hashed`, async () => {
    const algs: HashAlg[] = ["sha256", "sha384", "sha512"];
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 300_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        async (data, sizes, mixed) => {
          const pool = new BatchPool(70_000);
          const given: Uint8Array[] = [];
          const h = new Hasher(algs, (c) => {
            given.push(c);
            c.fill(0xee); // the caller may reuse it at once: the digest must not change
            pool.release(c);
          });
          const sent: Uint8Array[] = [];
          for (let off = 0, i = 0; off < data.length; i++) {
            const n = Math.min(sizes[i % sizes.length], data.length - off);
            let chunk: Uint8Array;
            if (mixed && i % 3 === 2) {
              chunk = data.slice(off, off + n); // not shared: never given back
            } else {
              chunk = pool.take().subarray(0, n);
              chunk.set(data.subarray(off, off + n));
              pool.lend(chunk, 1);
              sent.push(chunk);
            }
            h.update(chunk);
            off += n;
            await h.waitForBacklog(100_000);
          }
          const d = await h.digest();
          for (const alg of algs) {
            assertEquals(d.get(alg), createHash(alg).update(data).digest("hex"));
          }
          assertEquals(given, sent, "every shared chunk given back once, in order");
        },
      ),
      { numRuns: 40 },
    );
  });
}

Deno.test("WorkerHasher: a worker that dies fails the hasher: update throws, digest rejects, waiters are released", async () => {
  // An algorithm the worker cannot make throws inside it: the worker dies as on any fault.
  const h = new WorkerHasher(["no-such-hash" as HashAlg]);
  h.update(new Uint8Array(1000));
  const waiting = h.waitForBacklog(0);
  await waiting; // released, not stuck
  await assertRejects(() => h.digest(), /hash worker failed/);
  assertThrows(() => h.update(new Uint8Array(1)), /hash worker failed/);
});

Deno.test("NativeHasher: an algorithm libcrypto lacks fails the hasher: update throws, digest rejects, waiters are released", async () => {
  const h = new NativeHasher(["no-such-hash" as HashAlg]);
  assertThrows(() => h.update(new Uint8Array(1000)), /digest_new/);
  await h.waitForBacklog(0); // released, not stuck
  await assertRejects(() => h.digest(), /digest_new/);
  assertThrows(() => h.update(new Uint8Array(1)), /digest_new/);
});

Deno.test("NativeHasher: abort while an update runs frees the set once the update returns; a discarded chunk is still given back", async () => {
  const pool = new BatchPool(8 << 20);
  const chunks = [pool.take(), pool.take()];
  for (const c of chunks) pool.lend(c, 1);
  const h = new NativeHasher(["sha512"], (c) => pool.release(c));
  for (const c of chunks) h.update(c);
  h.abort();
  await h.waitForBacklog(0);
  await assertRejects(() => h.digest(), /already finished/);
  for (let i = 0; i < 50 && pool.lent > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assertEquals(pool.lent, 0, "both batches given back after the abort");
});
