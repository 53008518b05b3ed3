/**
 * Layer blobs (behaviour file §3.4 AddBlob, §4.5, §4.6): digest rules, the "referenced by a loaded
 * manifest" check, and ingest = extract into tmp/ without the lock, then under the lock re-check and
 * rename into contents/sha384/<hex> plus the requested contents/<alg>/<hex> links.
 */
import type { Context, PodState } from "../context.ts";
import { AcondError, denied, invalid, MSG } from "../errors.ts";
import type { HashAlg } from "../digest.ts";
import { atLeast, HEX_LENGTH } from "../digest_boot.ts";
import { createHash } from "node:crypto";
import { extractTar } from "./tar/extract.ts";
import { MemoryReader, type TarReader } from "./tar/reader.ts";
import { log } from "../util/log.ts";
import { errnoOf } from "../sys/errors.ts";

/** AddBlobRequest.alg bits. */
export const ALG_BITS: ReadonlyArray<readonly [number, HashAlg]> = [
  [1, "sha256"],
  [2, "sha384"],
  [4, "sha512"],
];
const ALL_BITS = 7;

/** The algorithms named by an alg bitmask; unknown bits are refused. */
export function algsFromBits(bits: number): HashAlg[] {
  if ((bits & ~ALL_BITS) !== 0) throw invalid(MSG.badHashAlgorithm);
  return ALG_BITS.filter(([b]) => (bits & b) !== 0).map(([, a]) => a);
}

export interface Digest {
  alg: HashAlg;
  hex: string;
}

export function formatDigest(d: Digest): string {
  return `${d.alg}/${d.hex}`;
}

/** "sha384/<hex>" → Digest; anything else is InvalidArgument. */
export function parseDigest(s: string): Digest {
  const m = /^(sha256|sha384|sha512)\/([0-9a-f]+)$/.exec(s);
  if (!m || m[2].length !== HEX_LENGTH[m[1] as HashAlg]) {
    throw invalid(
      `Invalid digest "${s.slice(0, 140)}" (expected sha256|sha384|sha512/<lowercase hex>)`,
    );
  }
  return { alg: m[1] as HashAlg, hex: m[2] };
}

/**
 * Throws unless some loaded image lists one of `digests` in its layers, with an algorithm at least
 * as strong as minHash. Nothing else is resolved (aliases are not followed).
 */
export function checkReferenced(state: PodState, minHash: HashAlg, digests: Digest[]): void {
  const wanted = new Set(digests.map(formatDigest));
  const matched = new Set<string>();
  for (const img of state.images.values()) {
    for (const l of img.manifest.layers) if (wanted.has(l)) matched.add(l);
  }
  if (matched.size === 0) throw denied(MSG.noReferencingManifest);
  const strong = digests.some((d) => matched.has(formatDigest(d)) && atLeast(d.alg, minHash));
  if (!strong) {
    throw invalid(`${MSG.badHashAlgorithm}: layer digests weaker than ${minHash} are refused`);
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Places an extracted layer (or nothing, if the layer is already there) and the alg links. Runs
 * under ctx.lock; re-checks the reference because the caller checked it without the lock.
 */
async function commitLayer(
  ctx: Context,
  staged: string | null,
  digests: Map<HashAlg, string>,
  req: { linkAlgs: HashAlg[]; candidates: Digest[] },
): Promise<string> {
  const { linkAlgs, candidates } = req;
  return await ctx.lock.run(() => {
    checkReferenced(ctx.state, ctx.opts.minHash, candidates);
    const hex = digests.get("sha384")!;
    const dir = ctx.layout.layerDir(hex);
    if (exists(dir)) {
      if (staged) Deno.removeSync(staged, { recursive: true });
    } else {
      if (!staged) throw new Error("layer vanished between check and commit");
      Deno.mkdirSync(`${ctx.layout.contents}/sha384`, { recursive: true, mode: 0o755 });
      Deno.renameSync(staged, dir);
    }
    for (const alg of linkAlgs) {
      if (alg === "sha384") continue;
      const link = ctx.layout.layerLink(alg, digests.get(alg)!);
      if (exists(link)) continue;
      Deno.mkdirSync(`${ctx.layout.contents}/${alg}`, { recursive: true, mode: 0o755 });
      Deno.symlinkSync(`../sha384/${hex}`, link);
    }
    return hex;
  });
}

/** A fresh staging directory under tmp/ (same file system as contents/, so rename is atomic). */
function stagingDir(ctx: Context): string {
  Deno.mkdirSync(ctx.layout.tmp, { recursive: true, mode: 0o700 });
  return Deno.makeTempDirSync({ dir: ctx.layout.tmp, prefix: "layer-" });
}

export interface Staged {
  dir: string;
  entries: number;
  bytes: number;
}

export function discardStaged(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) log.warn(`cannot remove ${dir}: ${e}`);
  }
}

/** Extracts into a fresh staging dir (no lock held); on any failure the dir is gone. */
export async function stageLayer(
  ctx: Context,
  reader: TarReader,
  totalSize?: number,
): Promise<Staged> {
  const dir = stagingDir(ctx);
  try {
    Deno.chmodSync(dir, 0o755); // the layer root's mode unless the tar has a "./" entry
    const stats = await extractTar(reader, dir, totalSize);
    return { dir, ...stats };
  } catch (e) {
    discardStaged(dir);
    if (errnoOf(e) === "ENOSPC") {
      throw new AcondError(
        "resource_exhausted",
        "No space left for the layer in the state directory",
      );
    }
    throw e;
  }
}

export interface PlaceRequest {
  /** contents/<alg>/<hex> links to create (sha384 is the directory itself). */
  linkAlgs: HashAlg[];
  /** Which computed digests may match a manifest (the requested algorithms, or the named one). */
  matchAlgs: HashAlg[];
  /** When set, the computed digest must equal it (chunked uploads name it at BeginBlob). */
  expected?: Digest;
}

/** Verify → commit under the lock. The staging dir is consumed whatever happens. */
export async function placeLayer(
  ctx: Context,
  staged: Staged,
  digests: Map<HashAlg, string>,
  req: PlaceRequest,
): Promise<string> {
  let placed = false;
  try {
    if (req.expected && digests.get(req.expected.alg) !== req.expected.hex) {
      throw invalid(
        `Digest mismatch: expected ${formatDigest(req.expected)}, got ${req.expected.alg}/${
          digests.get(req.expected.alg)
        }`,
      );
    }
    const candidates = req.matchAlgs.map((alg) => ({ alg, hex: digests.get(alg)! }));
    const hex = await commitLayer(ctx, staged.dir, digests, {
      linkAlgs: req.linkAlgs,
      candidates,
    });
    placed = true;
    log.info(`layer sha384/${hex}: ${staged.entries} entries, ${staged.bytes} bytes`);
    return hex;
  } finally {
    if (!placed) discardStaged(staged.dir);
  }
}

/**
 * A unary AddBlob's data is at most --max-request. The RPC layer enforces --max-request too;
 * checked here as well, so that the transport limit can be raised for WriteBlob chunks without
 * widening AddBlob.
 */
export function checkUnarySize(ctx: Context, n: number): void {
  const max = ctx.opts.maxRequestBytes as number | undefined;
  if (max !== undefined && n > max) {
    throw new AcondError(
      "resource_exhausted",
      `Blob of ${n} bytes exceeds --max-request (${max} bytes): use the chunked upload`,
    );
  }
}

/**
 * Throws the refusal of an unreferenced blob (permission_denied) when no loaded image lists any
 * layer by one of `algs`: then no blob hashed with them can match, whatever its bytes.
 */
export function checkAnyReferenced(state: PodState, algs: readonly HashAlg[]): void {
  for (const img of state.images.values()) {
    for (const l of img.manifest.layers) {
      if (algs.some((a) => l.startsWith(`${a}/`))) return;
    }
  }
  throw denied(MSG.noReferencingManifest);
}

/**
 * Unary AddBlob: the whole tar is in the request (≤ --max-request). Digests first, so an
 * unreferenced blob is refused before a single file is written.
 */
export async function addBlob(ctx: Context, bits: number, data: Uint8Array): Promise<void> {
  checkUnarySize(ctx, data.length);
  const linkAlgs = algsFromBits(bits);
  if (linkAlgs.length === 0) throw denied(MSG.noReferencingManifest);
  const digests = new Map<HashAlg, string>();
  for (const alg of new Set<HashAlg>([...linkAlgs, "sha384"])) {
    digests.set(alg, createHash(alg).update(data).digest("hex"));
  }
  // Matching considers the requested algorithms only (ACON); sha384 is always computed as the name.
  const candidates = linkAlgs.map((alg) => ({ alg, hex: digests.get(alg)! }));
  checkReferenced(ctx.state, ctx.opts.minHash, candidates);
  if (exists(ctx.layout.layerDir(digests.get("sha384")!))) {
    await commitLayer(ctx, null, digests, { linkAlgs, candidates });
    return;
  }
  const staged = await stageLayer(ctx, new MemoryReader(data), data.length);
  await placeLayer(ctx, staged, digests, { linkAlgs, matchAlgs: linkAlgs });
}
