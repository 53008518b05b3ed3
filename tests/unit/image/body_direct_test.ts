/**
 * image/upload/body.ts with a body that reads straight into the batches (DIRECT_READ, what
 * api/h1_put.ts gives): the bytes arrive in order and whole, each read goes into the batch being
 * filled (no copy), the size limit holds, and a body that breaks off keeps what arrived.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  type BodySink,
  DIRECT_READ,
  type DirectRead,
  receiveBody,
  STREAM_BATCH,
} from "../../../src/image/upload/body.ts";

/** A sink that keeps copies of its batches and the buffers they came in. */
function sink() {
  const got: Uint8Array[] = [];
  const buffers = new Set<ArrayBufferLike>();
  let received = 0;
  const s: BodySink = {
    get received() {
      return received;
    },
    accept(batch) {
      got.push(batch.slice());
      buffers.add(batch.buffer);
      received += batch.length;
      return Promise.resolve();
    },
  };
  return {
    s,
    got,
    buffers,
    get received() {
      return received;
    },
  };
}

/** A body of `data` read directly, at most `piece` bytes a read, then `end` (null: the end). */
function directBody(data: Uint8Array, piece: number, end: Error | null = null) {
  let at = 0;
  const targets: ArrayBufferLike[] = [];
  const read: DirectRead = (dst) => {
    targets.push(dst.buffer);
    if (at >= data.length) return end ? Promise.reject(end) : Promise.resolve(null);
    const n = Math.min(piece, dst.length, data.length - at);
    dst.set(data.subarray(at, at + n));
    at += n;
    return Promise.resolve(n);
  };
  const body = new ReadableStream<Uint8Array>({
    pull() {
      throw new Error("the stream is not read when the body reads directly");
    },
  });
  Object.defineProperty(body, DIRECT_READ, { value: read });
  return { body, targets };
}

const pattern = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + (i >> 10)) & 0xff);

Deno.test("direct body: whole and in order, read into the batches themselves", async () => {
  const data = pattern(2 * STREAM_BATCH + 12345);
  const k = sink();
  const { body, targets } = directBody(data, 300_000);
  await receiveBody(body, k.s, { idleMs: 60_000 });
  const all = new Uint8Array(k.received);
  let at = 0;
  for (const g of k.got) (all.set(g, at), at += g.length);
  assertEquals(k.received, data.length);
  assert(all.every((v, i) => v === data[i]), "the bytes as sent");
  assertEquals(k.got.slice(0, -1).map((g) => g.length), [STREAM_BATCH, STREAM_BATCH]);
  // Every read went into a buffer the sink was then given: nothing in between.
  for (const t of targets) assert(k.buffers.has(t), "a read into memory that is not a batch");
});

Deno.test("direct body: the size limit holds, and a break keeps what arrived", async () => {
  const data = pattern(5000);
  let k = sink();
  let e = await receiveBody(directBody(data, 1000).body, k.s, { idleMs: 60_000, limit: 4500 })
    .then(() => null, (e) => e as Error);
  assert(e && /beyond the declared size 4500/.test(e.message), String(e));
  assertEquals(k.received, 4000, "the pieces within the limit");

  k = sink();
  e = await receiveBody(
    directBody(data, 700, new Error("the connection closed")).body,
    k.s,
    { idleMs: 60_000 },
  ).then(() => null, (e) => e as Error);
  assert(e && /broke off at 5000 bytes \(the connection closed\)/.test(e.message), String(e));
  assertEquals(k.received, 5000);
});
