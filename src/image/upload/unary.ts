/**
 * Unary AddBlob with its data streamed: the request's `data` bytes arrive in batches (read off the
 * request body by api/addblob_stream.ts) and go through the same hasher (worker thread) and
 * concurrent extraction as the chunked and raw streamed uploads, so a request holds a small
 * constant of memory (UNARY_QUEUE) whatever the layer's size. Unlike those uploads no digest is
 * named in advance: the digests of the algorithms the request asks for (its `alg`) are computed
 * as the bytes arrive and, at the end, matched against the loaded manifests, as the buffered
 * AddBlob does (image/blob.ts addBlob); the layer is placed only then. Until then the bytes are
 * extracted into a staging directory under tmp/, which every failure removes.
 */
import type { Context } from "../../context.ts";
import { denied, invalid, MSG } from "../../errors.ts";
import type { HashAlg } from "../../digest.ts";
import {
  addBlob,
  algsFromBits,
  checkAnyReferenced,
  checkUnarySize,
  discardStaged,
  placeLayer,
  type Staged,
  stageLayer,
} from "../blob.ts";
import { TarError } from "../tar/format.ts";
import { StreamReader } from "../tar/reader.ts";
import { type BodySink, STREAM_BATCH } from "./body.ts";
import { type LayerHasher, newLayerHasher } from "./hasher.ts";
import { BatchPool } from "./pool.ts";

/** Bytes waiting for the extraction (and, apart, for the hasher) before no more are taken. */
export const UNARY_QUEUE = 2 * STREAM_BATCH;

const ALL: HashAlg[] = ["sha256", "sha384", "sha512"];

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** One streamed AddBlob's data on its way in: take batches, then finish or abort. */
export class UnaryIngest implements BodySink {
  #received = 0;
  readonly #stream: StreamReader;
  readonly #hasher: LayerHasher;
  /** The batches (./body.ts) are reused once hashed and extracted (./pool.ts). */
  readonly #pool = new BatchPool(STREAM_BATCH);
  readonly #staging: Promise<Staged | Error>;
  #failure: Error | null = null;

  /** `hashed`: the digests computed (what `alg` may ask for at the end). */
  constructor(
    private readonly ctx: Context,
    readonly size: number,
    readonly hashed: ReadonlySet<HashAlg>,
  ) {
    const release = (c: Uint8Array) => this.#pool.release(c);
    this.#hasher = newLayerHasher([...hashed], release);
    this.#stream = new StreamReader([this.#hasher], release);
    this.#staging = stageLayer(ctx, this.#stream, size).catch((e: unknown) => {
      this.#failure ??= asError(e);
      this.#stream.abort(this.#failure); // releases a batch waiting for room
      return this.#failure;
    });
  }

  get received(): number {
    return this.#received;
  }

  newBatch(): Uint8Array {
    return this.#pool.take();
  }

  async accept(batch: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#received + batch.length > this.size) throw invalid("Data beyond its declared length");
    this.#pool.lend(batch, 2); // the hasher and the extraction each give it back
    try {
      this.#stream.push(batch);
    } catch (e) {
      this.#failure ??= asError(e);
    }
    this.#received += batch.length;
    await Promise.all([
      this.#stream.waitForSpace(UNARY_QUEUE),
      this.#hasher.waitForBacklog(UNARY_QUEUE),
    ]);
    if (this.#failure) throw this.#failure;
  }

  /** All data arrived: checks `bits` and the digests, places the layer. Nothing stays on failure. */
  async finish(bits: number): Promise<void> {
    let staged: Staged | null = null;
    try {
      if (this.#received !== this.size) {
        throw invalid(`AddBlob data incomplete: ${this.#received} of ${this.size} bytes`);
      }
      const linkAlgs = algsFromBits(bits);
      if (linkAlgs.length === 0) throw denied(MSG.noReferencingManifest);
      const missing = linkAlgs.filter((a) => !this.hashed.has(a));
      if (missing.length > 0) {
        throw invalid(
          `AddBlobRequest.alg changed after data began (now also ${missing.join(", ")}): ` +
            "give alg once, before data",
        );
      }
      this.#stream.end();
      const s = await this.#staging;
      if (s instanceof Error) throw s;
      staged = s;
      const digests = await this.#hasher.digest();
      const placing = staged;
      staged = null; // placeLayer consumes it, whatever happens
      await placeLayer(this.ctx, placing, digests, { linkAlgs, matchAlgs: linkAlgs });
    } catch (e) {
      if (staged) discardStaged(staged.dir);
      await this.abort();
      throw e;
    }
  }

  /** Stops the extraction and the hasher; resolves once the staging directory is gone. */
  async abort(): Promise<void> {
    this.#stream.abort(new TarError("upload discarded"));
    this.#hasher.abort();
    const s = await this.#staging;
    if (!(s instanceof Error)) discardStaged(s.dir);
  }
}

/** The daemon's side of the streamed unary AddBlob (api/addblob_stream.ts StreamedBlobs). */
export function unaryBlobs(ctx: Context) {
  return {
    /** Refuses at once what no bytes can make acceptable: oversize, nothing to match. */
    check(size: number, bits: number | null): void {
      checkUnarySize(ctx, size);
      checkAnyReferenced(ctx.state, bits ? algsFromBits(bits) : ALL);
    },
    /**
     * A streamed ingest of `size` bytes. `bits`: the request's alg as known when data begins
     * (null: not given yet, then every digest is computed).
     */
    begin(size: number, bits: number | null): UnaryIngest {
      // check() refused bad bits already.
      return new UnaryIngest(ctx, size, new Set(bits ? [...algsFromBits(bits), "sha384"] : ALL));
    },
    /** Small data, whole: the buffered AddBlob. */
    async addWhole(bits: number, data: Uint8Array): Promise<void> {
      await addBlob(ctx, bits, data);
    },
  };
}
