/**
 * Writing a layer into an image directory: the source bytes (a plain, gzip or zstd tar, told by
 * its first bytes) are decompressed, hashed (sha384: the name acond stores and the manifest uses;
 * sha256: the OCI diff id) and written as a plain tar to layers/sha384/<hex>.tar, in one pass.
 * gzip: the web DecompressionStream; zstd: node:zlib's zstd (built into Deno 2.9).
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { createZstdDecompress } from "node:zlib";
import { LAYERS_DIR } from "./imagedir.ts";
import { BLOCK, isZeroBlock, parseHeader } from "../../image/tar/format.ts";

export type Compression = "none" | "gzip" | "zstd";

export function compressionOf(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

/** The stream's first bytes (at least n unless it is shorter) and the whole stream again. */
async function peek(
  s: ReadableStream<Uint8Array>,
  n: number,
): Promise<[Uint8Array, ReadableStream<Uint8Array>]> {
  const reader = s.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  while (have < n) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(r.value);
    have += r.value.length;
  }
  const head = new Uint8Array(have);
  let o = 0;
  for (const c of chunks) {
    head.set(c, o);
    o += c.length;
  }
  const rest = new ReadableStream<Uint8Array>({
    start(ctl) {
      for (const c of chunks) ctl.enqueue(c);
    },
    async pull(ctl) {
      const r = await reader.read();
      if (r.done) ctl.close();
      else ctl.enqueue(r.value);
    },
    cancel(why) {
      return reader.cancel(why);
    },
  });
  return [head, rest];
}

function tap(s: ReadableStream<Uint8Array>, f: (c: Uint8Array) => void) {
  return s.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(c, ctl) {
        f(c);
        ctl.enqueue(c);
      },
    }),
  );
}

function decompress(s: ReadableStream<Uint8Array>, c: Compression): ReadableStream<Uint8Array> {
  switch (c) {
    case "none":
      return s;
    case "gzip":
      return s.pipeThrough(
        new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
      );
    case "zstd": {
      const node = Readable.fromWeb(s as never).pipe(createZstdDecompress());
      return Readable.toWeb(node) as unknown as ReadableStream<Uint8Array>;
    }
  }
}

export interface WrittenLayer {
  /** `sha384/<hex>`: the manifest's reference and the file's name. */
  ref: string;
  path: string;
  /** sha256 of the plain tar: the OCI diff id. */
  diffId: string;
  /** sha256 of the bytes as given (compressed): the OCI blob digest. */
  blobDigest: string;
  compression: Compression;
  size: number;
}

/** Whether the first block is a tar header (its checksum holds) or an end-of-archive block. */
function looksLikeTar(head: Uint8Array): boolean {
  if (head.length < BLOCK) return false;
  const block = head.subarray(0, BLOCK);
  if (isZeroBlock(block)) return true;
  try {
    parseHeader(block);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the layer into `dir` (an image directory); returns its digests. Throws when the
 * (decompressed) bytes are not a tar.
 */
export async function writeLayer(
  dir: string,
  source: ReadableStream<Uint8Array>,
  what: string,
): Promise<WrittenLayer> {
  const blob = createHash("sha256");
  const [head, all] = await peek(tap(source, (c) => blob.update(c)), 4);
  const compression = compressionOf(head);
  const [tarHead, plain] = await peek(decompress(all, compression), 512);
  if (!looksLikeTar(tarHead)) {
    await plain.cancel();
    throw new Error(`${what} is not a tar archive (plain, gzip or zstd)`);
  }
  const h384 = createHash("sha384");
  const h256 = createHash("sha256");
  await Deno.mkdir(`${dir}/${LAYERS_DIR}/sha384`, { recursive: true });
  const tmp = `${dir}/${LAYERS_DIR}/sha384/.incoming-${crypto.randomUUID().slice(0, 8)}`;
  let size = 0;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    await tap(plain, (c) => {
      h384.update(c);
      h256.update(c);
      size += c.length;
    }).pipeTo(f.writable);
    const hex = h384.digest("hex");
    const path = `${dir}/${LAYERS_DIR}/sha384/${hex}.tar`;
    await Deno.rename(tmp, path);
    return {
      ref: `sha384/${hex}`,
      path,
      diffId: `sha256:${h256.digest("hex")}`,
      blobDigest: `sha256:${blob.digest("hex")}`,
      compression,
      size,
    };
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
  }
}

/** A byte range of a file as a stream (a layer inside a docker-archive tar, or a whole blob). */
export function fileRange(path: string, offset = 0, length = Infinity): ReadableStream<Uint8Array> {
  let f: Deno.FsFile | undefined;
  let left = length;
  const buf = 1 << 20;
  return new ReadableStream<Uint8Array>({
    async start() {
      f = await Deno.open(path);
      if (offset) await f.seek(offset, Deno.SeekMode.Start);
    },
    async pull(ctl) {
      if (left <= 0) {
        f!.close();
        ctl.close();
        return;
      }
      const b = new Uint8Array(Math.min(buf, left));
      const n = await f!.read(b);
      if (n === null) {
        f!.close();
        if (left !== Infinity) ctl.error(new Error(`${path} ends early`));
        else ctl.close();
        return;
      }
      left -= n;
      ctl.enqueue(b.subarray(0, n));
    },
    cancel() {
      f?.close();
    },
  });
}
