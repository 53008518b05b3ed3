/**
 * Digests that the boot path may use: SHA-384 (event-log extends, simulated RTMRs and TDREPORTs),
 * hex, and the names, strengths and hex lengths of the hash algorithms, without node:crypto. Loading node:crypto costs 1–2 s
 * under emulation; these inputs are small, so a pure JS SHA-2 (@noble/hashes) is fast enough and
 * keeps the API synchronous. Importing this module must never load node:crypto: bulk hashing
 * (layers, images) is in digest.ts, loaded only by modules used after boot.
 */
import { sha384 as nobleSha384 } from "@noble/hashes/sha2.js";

export type HashAlg = "sha256" | "sha384" | "sha512";

/** Hex digits of a digest of each algorithm. */
export const HEX_LENGTH: Readonly<Record<HashAlg, number>> = {
  sha256: 64,
  sha384: 96,
  sha512: 128,
};

const STRENGTH: Readonly<Record<HashAlg, number>> = { sha256: 256, sha384: 384, sha512: 512 };

export function isHashAlg(s: string): s is HashAlg {
  return s === "sha256" || s === "sha384" || s === "sha512";
}

/** Whether `alg` is at least as strong as `min`. */
export function atLeast(alg: HashAlg, min: HashAlg): boolean {
  return STRENGTH[alg] >= STRENGTH[min];
}

/** Lowercase hex of exactly the length of `alg`. */
export function isDigestHex(alg: HashAlg, hex: string): boolean {
  return hex.length === HEX_LENGTH[alg] && /^[0-9a-f]+$/.test(hex);
}

const enc = new TextEncoder();

export function sha384(data: Uint8Array | string): Uint8Array<ArrayBuffer> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return new Uint8Array(nobleSha384(bytes));
}

/**
 * SHA-384 through WebCrypto: native code, no node:crypto, asynchronous. For the boot path's
 * measurements, where compiling and interpreting the JS SHA-2 costs ~100 ms under emulation.
 */
export async function sha384Native(data: Uint8Array | string): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-384", bytes as Uint8Array<ArrayBuffer>));
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function fromHex(s: string): Uint8Array<ArrayBuffer> {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error(`not a hex string: ${s.slice(0, 16)}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
