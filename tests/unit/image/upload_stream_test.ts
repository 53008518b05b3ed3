/** Uploads.writeStream (the raw streamed body) without the HTTP layer: batches, cuts, stalls. */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { assertEquals, assertRejects } from "../../helpers/assert.ts";
import { craftTar } from "../../helpers/tarcraft.ts";
import type { Context } from "../../../src/context.ts";
import type { LoadedImage, Manifest } from "../../../src/state.ts";
import { Layout } from "../../../src/layout.ts";
import { Mutex } from "../../../src/util/mutex.ts";
import { STREAM_BATCH, STREAM_IDLE_MS } from "../../../src/image/upload/body.ts";
import { BatchPool } from "../../../src/image/upload/pool.ts";
import { Uploads } from "../../../src/image/upload/table.ts";

async function withCtx(layer: Uint8Array, fn: (ctx: Context, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "upload-stream-test-" });
  const h = createHash("sha384").update(layer).digest("hex");
  const image = {
    id: `sha384/${"a".repeat(96)}/${"b".repeat(96)}`,
    manifest: { layers: [`sha384/${h}`] } as unknown as Manifest,
  } as LoadedImage;
  const ctx = {
    opts: { minHash: "sha384" },
    lock: new Mutex(),
    state: { finalized: false, images: new Map([["i", image]]), containers: new Map() },
    layout: new Layout(root),
  } as unknown as Context;
  try {
    await fn(ctx, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** A body that sends `parts` in order, then ends, fails, or goes silent. */
function body(parts: Uint8Array[], then: "end" | "error" | "silence"): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < parts.length) return c.enqueue(parts[i++]);
      if (then === "end") c.close();
      else if (then === "error") c.error(new Error("connection reset"));
      else return new Promise(() => {}); // never answers
    },
  });
}

// Several batches of file data, in one archive.
const layer = craftTar([
  { name: "a", data: "x".repeat(STREAM_BATCH + 333) },
  { name: "b", data: "y".repeat(2 * STREAM_BATCH) },
]);
const digest = `sha384/${createHash("sha384").update(layer).digest("hex")}`;

Deno.test("writeStream: a cut body keeps every byte that arrived; the rest resumes it", async () => {
  await withCtx(layer, async (ctx, root) => {
    const up = new Uploads(ctx);
    const { uploadId } = up.begin(digest, BigInt(layer.length));
    const cut = STREAM_BATCH + 4000; // one full batch and a part of the next
    const parts = [layer.subarray(0, 3000), layer.subarray(3000, cut)];
    await assertRejects(
      () => up.writeStream(uploadId, 0, body(parts, "error")),
      new RegExp(`Request body broke off at ${cut} bytes \\(connection reset\\)`),
    );
    assertEquals(up.status(uploadId).received, BigInt(cut));
    await assertRejects(
      () => up.writeStream(uploadId, 0, body([layer], "end")),
      new RegExp(`Wrong offset 0: expected offset ${cut}`),
    );
    const st = await up.writeStream(uploadId, cut, body([layer.subarray(cut)], "end"), {
      total: layer.length,
    });
    assertEquals(st.received, BigInt(layer.length));
    await up.commit(uploadId, 0);
    assertEquals(Deno.statSync(`${root}/contents/${digest}/b`).size, 2 * STREAM_BATCH);
  });
});

Deno.test("writeStream: a silent sender is cut after the idle limit, keeping what it sent", async () => {
  await withCtx(layer, async (ctx) => {
    const up = new Uploads(ctx, () => Date.now(), 100);
    const { uploadId } = up.begin(digest, BigInt(layer.length));
    await assertRejects(
      () => up.writeStream(uploadId, 0, body([layer.subarray(0, 5000)], "silence")),
      /broke off at 5000 bytes \(nothing for 0.1 s\)/,
    );
    // Not busy any more: the upload continues.
    await up.writeStream(uploadId, 5000, body([layer.subarray(5000)], "end"));
    await up.commit(uploadId, 0);
  });
});

Deno.test("writeStream: many files over reused batches, any piece sizes: every file intact", async () => {
  // Distinct contents, sizes around and across the batch boundaries: a batch reused while the
  // hasher or the extraction still read it would change a file or the digest.
  const rnd = (seed: number) => () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const next = rnd(7);
  const files = Array.from({ length: 400 }, (_, i) => {
    const data = new Uint8Array(next() % 40_000);
    for (let j = 0; j < data.length; j++) data[j] = (i * 7 + j * 13 + (j >> 8)) & 0xff;
    return { name: `d${i % 9}/f${i}`, data };
  });
  const many = craftTar(files);
  const d = `sha384/${createHash("sha384").update(many).digest("hex")}`;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 50_000, max: 3 * STREAM_BATCH }), { minLength: 1, maxLength: 8 }),
      async (sizes) => {
        await withCtx(many, async (ctx, root) => {
          const up = new Uploads(ctx);
          const { uploadId } = up.begin(d, BigInt(many.length));
          const parts: Uint8Array[] = [];
          for (let off = 0, i = 0; off < many.length; i++) {
            const n = sizes[i % sizes.length];
            parts.push(many.slice(off, off + n));
            off += n;
          }
          // Each piece a turn of the event loop later (as from a socket): the hasher and the
          // extraction give batches back meanwhile, and the next pieces go into reused ones.
          let i = 0;
          const paced = new ReadableStream<Uint8Array>({
            async pull(c) {
              await new Promise((r) => setTimeout(r, 0));
              if (i < parts.length) c.enqueue(parts[i++]);
              else c.close();
            },
          });
          await up.writeStream(uploadId, 0, paced);
          await up.commit(uploadId, 0);
          for (const f of files) {
            assertEquals(Deno.readFileSync(`${root}/contents/${d}/${f.name}`), f.data, f.name);
          }
        });
      },
    ),
    { numRuns: 6, endOnFailure: true },
  );
});

/** `p`, or a rejection naming `what` once `ms` passed: a hang fails the test instead of the suite. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("writeStream: bodies cut at any points, mid-batch or not, resume to the layer; every batch comes back", async () => {
  const pools: BatchPool[] = [];
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 1, max: layer.length - 1 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 16_000, max: STREAM_BATCH + 5000 }),
      async (cutsRaw, piece) => {
        const cuts = cutsRaw.sort((a, b) => a - b);
        await withCtx(layer, async (ctx, root) => {
          const up = new Uploads(ctx, () => Date.now(), STREAM_IDLE_MS, () => {
            pools.push(new BatchPool(STREAM_BATCH));
            return pools.at(-1)!;
          });
          const { uploadId } = up.begin(digest, BigInt(layer.length));
          const pool = pools.at(-1)!;
          // Pieces a turn of the event loop apart (as from a socket), then the connection resets.
          const paced = (from: number, to: number, then: "end" | "error") => {
            let off = from;
            return new ReadableStream<Uint8Array>({
              async pull(c) {
                await new Promise((r) => setTimeout(r, 0));
                if (off < to) {
                  const n = Math.min(piece, to - off);
                  c.enqueue(layer.slice(off, off + n));
                  off += n;
                } else if (then === "end") c.close();
                else c.error(new Error("connection reset"));
              },
            });
          };
          let at = 0;
          for (const cut of cuts) {
            await assertRejects(
              () =>
                within(
                  up.writeStream(uploadId, at, paced(at, cut, "error")),
                  20_000,
                  `cut at ${cut}`,
                ),
              new RegExp(`Request body broke off at ${cut} bytes`),
            );
            assertEquals(
              up.status(uploadId).received,
              BigInt(cut),
              "every byte that arrived is kept",
            );
            at = cut;
          }
          await within(
            up.writeStream(uploadId, at, paced(at, layer.length, "end")),
            20_000,
            "rest",
          );
          await within(up.commit(uploadId, 0), 20_000, "commit");
          assertEquals(Deno.statSync(`${root}/contents/${digest}/a`).size, STREAM_BATCH + 333);
          assertEquals(Deno.statSync(`${root}/contents/${digest}/b`).size, 2 * STREAM_BATCH);
          assertEquals(pool.lent, 0, "batches still held by the hasher or the extraction");
          assertEquals(up.count, 0);
        });
      },
    ),
    { numRuns: 12, endOnFailure: true },
  );
});
