/**
 * Synchronous hashing on node:crypto (fast for bulk data). Not for the boot path: importing this
 * module loads node:crypto (1–2 s under emulation); boot-path code uses digest_boot.ts.
 */
import { createHash } from "node:crypto";
import type { HashAlg } from "./digest_boot.ts";

export type { HashAlg } from "./digest_boot.ts";
export { fromHex, toHex } from "./digest_boot.ts";

export function digest(alg: HashAlg, data: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash(alg).update(data).digest());
}

export function hexDigest(alg: HashAlg, data: Uint8Array | string): string {
  return createHash(alg).update(data).digest("hex");
}
