/**
 * One upload: the digest it must match, the hasher (worker thread) and the extraction it feeds
 * as its bytes arrive, and its end (verify, place). The table of uploads and the rules of the
 * upload RPCs are ./table.ts.
 */
import type { Context } from "../../context.ts";
import type { HashAlg } from "../../digest.ts";
import { type Digest, discardStaged, placeLayer, type Staged, stageLayer } from "../blob.ts";
import { TarError } from "../tar/format.ts";
import { StreamReader } from "../tar/reader.ts";
import { type LayerHasher, newLayerHasher } from "./hasher.ts";
import { BatchPool } from "./pool.ts";
import { STREAM_BATCH } from "./body.ts";

export interface Upload {
  id: string;
  digest: Digest;
  /** Declared total size, 0 = unknown. */
  size: number;
  received: number;
  /** offset → length of every chunk written, to recognise retries. */
  chunks: Map<number, number>;
  lastActive: number;
  busy: boolean;
  stream: StreamReader;
  /** The alg links CommitBlob makes unless it names a subset. */
  linkAlgs: HashAlg[];
  /** What the hasher computes: linkAlgs, the named digest's algorithm and sha384. */
  hashAlgs: Set<HashAlg>;
  hasher: LayerHasher;
  /** The batches a streamed body is gathered into, reused once hashed and extracted. */
  pool: BatchPool;
  /** The concurrent extraction: never rejects (an Error is a value here). */
  staging: Promise<Staged | Error>;
  failure: Error | null;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** A new upload whose extraction starts at once (it waits for bytes). */
export function startUpload(
  ctx: Context,
  id: string,
  digest: Digest,
  size: number,
  requested: HashAlg[],
  now: number,
  pool = new BatchPool(STREAM_BATCH),
): Upload {
  const linkAlgs = requested.length === 0 ? [digest.alg] : requested;
  const hashAlgs = new Set<HashAlg>([...linkAlgs, digest.alg, "sha384"]);
  const release = (c: Uint8Array) => pool.release(c);
  const hasher = newLayerHasher([...hashAlgs], release);
  const stream = new StreamReader([hasher], release);
  const u: Upload = {
    id,
    digest,
    size,
    received: 0,
    chunks: new Map(),
    lastActive: now,
    busy: false,
    stream,
    linkAlgs,
    hashAlgs,
    hasher,
    pool,
    staging: Promise.resolve(new Error("not started")),
    failure: null,
  };
  u.staging = stageLayer(ctx, stream, u.size > 0 ? u.size : undefined).catch((e: unknown) => {
    u.failure = asError(e);
    stream.abort(u.failure); // releases a WriteBlob waiting for the extraction to catch up
    return u.failure;
  });
  return u;
}

/**
 * Gives bytes to the hasher (at once, on its worker thread: a batch of u.pool is read in place,
 * anything else copied) and the extraction (which takes them when it is done with the previous
 * ones). `data` must not change afterwards. A refusal is kept as the upload's failure.
 */
export function pushBytes(u: Upload, data: Uint8Array): void {
  u.pool.lend(data, 2); // the hasher and the extraction each give it back
  try {
    u.stream.push(data);
  } catch (e) {
    u.failure ??= asError(e);
  }
  u.received += data.length;
}

/** Resolves once the extraction and the hasher have at most `limit` bytes waiting. */
export async function waitForRoom(u: Upload, limit: number): Promise<void> {
  await Promise.all([u.stream.waitForSpace(limit), u.hasher.waitForBacklog(limit)]);
}

/** Stops the extraction and the hasher (a discarded upload). */
export function abortUpload(u: Upload): void {
  u.stream.abort(new TarError("upload discarded"));
  u.hasher.abort();
}

/**
 * Ends the stream, waits for the extraction and the digests, verifies the named digest and
 * places the layer with `linkAlgs` links.
 */
export async function finishUpload(ctx: Context, u: Upload, linkAlgs: HashAlg[]): Promise<void> {
  u.stream.end();
  const staged = await u.staging;
  if (staged instanceof Error) throw staged;
  let digests: Map<HashAlg, string>;
  try {
    digests = await u.hasher.digest();
  } catch (e) {
    discardStaged(staged.dir);
    throw e;
  }
  await placeLayer(ctx, staged, digests, {
    linkAlgs,
    matchAlgs: [u.digest.alg],
    expected: u.digest,
  });
}
