/**
 * Synchronous hashing on node:crypto (fast for bulk data). Not for the boot path: importing this
 * module loads node:crypto (1–2 s under emulation); boot-path code uses sha384.ts.
 */
import { createHash } from "node:crypto";

export { fromHex, toHex } from "./sha384.ts";

export type HashAlg = "sha256" | "sha384" | "sha512";

export function digest(alg: HashAlg, data: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash(alg).update(data).digest());
}

export function hexDigest(alg: HashAlg, data: Uint8Array | string): string {
  return createHash(alg).update(data).digest("hex");
}
