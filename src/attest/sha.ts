/** Synchronous hashing (node:crypto via a dynamic-free static import: never used before /proc). */
import { createHash } from "node:crypto";

export type HashAlg = "sha256" | "sha384" | "sha512";

export function digest(alg: HashAlg, data: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash(alg).update(data).digest());
}

export function hexDigest(alg: HashAlg, data: Uint8Array | string): string {
  return createHash(alg).update(data).digest("hex");
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
