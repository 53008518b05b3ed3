/**
 * Image and layer identifiers (behaviour file §4.4, ACON-compatible):
 *   SignerDigest = hex(alg(certificate DER)), ManifestDigest = hex(alg(manifest bytes)),
 *   ImageID = alg/SignerDigest/ManifestDigest.
 * Layer references in a manifest: `alg/hex` or `signer/alg/signerhex/alias`. Pure.
 */
import { type HashAlg, hexDigest } from "../digest.ts";
import { HEX_LENGTH, isDigestHex, isHashAlg } from "../digest_boot.ts";

export interface ImageIdParts {
  alg: HashAlg;
  signerDigest: string;
  manifestDigest: string;
}

export function computeImageId(
  alg: HashAlg,
  certificateDer: Uint8Array,
  manifestBytes: Uint8Array,
): ImageIdParts & { id: string } {
  const signerDigest = hexDigest(alg, certificateDer);
  const manifestDigest = hexDigest(alg, manifestBytes);
  return { id: `${alg}/${signerDigest}/${manifestDigest}`, alg, signerDigest, manifestDigest };
}

/** Parses `alg/signer/manifest`; null when it is not a well-formed image id. */
export function parseImageId(id: string): ImageIdParts | null {
  const parts = id.split("/");
  if (parts.length !== 3) return null;
  const [alg, signerDigest, manifestDigest] = parts;
  if (!isHashAlg(alg) || !isDigestHex(alg, signerDigest) || !isDigestHex(alg, manifestDigest)) {
    return null;
  }
  return { alg, signerDigest, manifestDigest };
}

/**
 * A name usable as one directory entry: non-empty, at most 255 bytes, no `/` or NUL, not `.` or
 * `..` (alias names become symlink names in the store).
 */
export function fileNameProblem(name: string): string | null {
  if (name === "") return "is empty";
  if (name === "." || name === "..") return `"${name}" is not a valid file name`;
  if (name.includes("/")) return "contains '/'";
  if (name.includes("\0")) return "contains a NUL character";
  if (new TextEncoder().encode(name).length > 255) return "is longer than 255 bytes";
  return null;
}

export type LayerRef =
  | { kind: "digest"; alg: HashAlg; hex: string }
  | { kind: "alias"; alg: HashAlg; signer: string; alias: string };

/** Parses a layer (or content-alias object) reference, or returns a description of the problem. */
export function parseLayerRef(ref: string): LayerRef | string {
  const parts = ref.split("/");
  if (parts.length === 2) {
    const [alg, hex] = parts;
    if (!isHashAlg(alg)) {
      return `unknown hash algorithm "${alg}" (expected sha256, sha384 or sha512)`;
    }
    if (!isDigestHex(alg, hex)) {
      return `digest must be ${HEX_LENGTH[alg]} lowercase hex digits for ${alg}`;
    }
    return { kind: "digest", alg, hex };
  }
  if (parts.length === 4 && parts[0] === "signer") {
    const [, alg, signer, alias] = parts;
    if (!isHashAlg(alg)) {
      return `unknown hash algorithm "${alg}" (expected sha256, sha384 or sha512)`;
    }
    if (!isDigestHex(alg, signer)) {
      return `signer digest must be ${HEX_LENGTH[alg]} lowercase hex digits for ${alg}`;
    }
    const p = fileNameProblem(alias);
    if (p) return `alias ${p}`;
    return { kind: "alias", alg, signer, alias };
  }
  return `expected "alg/hex" or "signer/alg/signerhex/alias"`;
}
