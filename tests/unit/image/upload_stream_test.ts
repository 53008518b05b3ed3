/** Uploads.writeStream (the raw streamed body) without the HTTP layer: batches, cuts, stalls. */
import { createHash } from "node:crypto";
import { assertEquals, assertRejects } from "../../helpers/assert.ts";
import { craftTar } from "../../helpers/tarcraft.ts";
import type { Context } from "../../../src/context.ts";
import type { LoadedImage, Manifest } from "../../../src/state.ts";
import { Layout } from "../../../src/layout.ts";
import { Mutex } from "../../../src/util/mutex.ts";
import { STREAM_BATCH } from "../../../src/image/upload/body.ts";
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
