/**
 * ACON's `PUT /api/v1/blob/{name}?alg=N` and `GET /api/v1/blob/{name}` over the daemon's one
 * upload table (image/upload/table.ts, the one the Connect blob RPCs and the raw stream route
 * use): the body streams through the same hashers, extraction, limits and back-pressure.
 * The name is the layer's digest in hex (aconcli sends `<sha384 hex>.tar`), which names the
 * upload: a PUT whose body ends the layer (no Content-Range, or one whose end is the total)
 * commits it; a PUT of a leading range keeps it open, and so does a cut connection. GET answers
 * how many bytes the open upload holds, and `Content-Range: bytes S-E/T` (or `S-*\/T`) resumes
 * from S ≤ that (bytes before what was received are skipped: the digest check at the end catches
 * a body that differs). S beyond it is ACON's 400.
 */
import { denied, invalid, MSG } from "../../errors.ts";
import type { Uploads } from "../../image/upload/table.ts";
import { parseStreamRequest } from "../blobstream.ts";

/** Names kept for open uploads (the table holds at most MAX_UPLOADS; the rest expired). */
const MAX_NAMES = 32;

const HEX_ALG: Record<number, string> = { 64: "sha256", 96: "sha384", 128: "sha512" };

/** `<hex>` or `<hex>.tar` → the digest text the upload table takes. */
export function digestOfName(name: string): string {
  const hex = name.endsWith(".tar") ? name.slice(0, -4) : name;
  const alg = HEX_ALG[hex.length];
  if (!alg || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw invalid(
      `Blob name "${name.slice(0, 140)}" is not a layer digest: name it by its sha384 (or ` +
        "sha256, sha512) in hex, optionally with .tar, as aconcli does",
    );
  }
  return `${alg}/${hex.toLowerCase()}`;
}

/** The body without its first `n` bytes (what an earlier PUT already delivered). */
function skip(body: ReadableStream<Uint8Array>, n: number): ReadableStream<Uint8Array> {
  let left = n;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        if (left >= chunk.length) {
          left -= chunk.length;
          return;
        }
        c.enqueue(left > 0 ? chunk.subarray(left) : chunk);
        left = 0;
      },
    }),
  );
}

export class RestBlobs {
  /** blob name → upload id of its open upload. */
  readonly #open = new Map<string, string>();

  constructor(private readonly uploads: () => Promise<Uploads>) {}

  /** The open upload of `name` and what it holds, or null. */
  #find(table: Uploads, name: string): { id: string; received: number } | null {
    const id = this.#open.get(name);
    if (id === undefined) return null;
    try {
      return { id, received: Number(table.status(id).received) };
    } catch {
      this.#open.delete(name); // expired, committed or failed: a new PUT starts over
      return null;
    }
  }

  /** GET: bytes the open upload of `name` holds, or null when there is none. */
  async size(name: string): Promise<number | null> {
    digestOfName(name);
    return this.#find(await this.uploads(), name)?.received ?? null;
  }

  /** PUT: streams `req`'s body into the upload of `name`; commits when the body ends the layer. */
  async put(name: string, alg: number, req: Request): Promise<void> {
    const digest = digestOfName(name);
    if (alg === 0) throw denied(MSG.noReferencingManifest); // as AddBlob: no digest to match
    const { offset, declared } = parseStreamRequest(req.headers, new URLSearchParams());
    const table = await this.uploads();
    let open = this.#find(table, name);
    const received = open?.received ?? 0;
    if (offset > received) {
      throw invalid("The start of content range is bigger than the existing file");
    }
    if (!open) {
      const size = declared.total ?? (offset === 0 ? declared.length : undefined) ?? 0;
      const id = table.begin(digest, BigInt(size), alg).uploadId;
      this.#open.delete(name);
      this.#open.set(name, id);
      if (this.#open.size > MAX_NAMES) this.#open.delete(this.#open.keys().next().value!);
      open = { id, received: 0 };
    }
    const already = received - offset;
    const body = req.body && already > 0 ? skip(req.body, already) : req.body;
    const length = declared.length === undefined ? undefined : declared.length - already;
    const st = await table.writeStream(open.id, received, body, {
      ...declared,
      ...(length === undefined ? {} : { length: Math.max(0, length) }),
    });
    const total = declared.total;
    if (total !== undefined && Number(st.received) < total) return; // more ranges to come
    this.#open.delete(name);
    await table.commit(open.id, alg);
  }
}
