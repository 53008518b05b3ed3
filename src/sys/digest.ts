/**
 * Typed wrapper over ffi/digest.c: streaming digests by libcrypto, each update hashed on another
 * thread (a nonblocking FFI call) while the caller goes on. Updates of one set run one at a time,
 * in order; a chunk must not change until its update() has resolved.
 */
import { HEX_LENGTH, toHex } from "../digest_boot.ts";
import type { HashAlg } from "../digest_boot.ts";
import { DIGEST_BYTES, DIGEST_MAX } from "./abi.ts";
import { SysError } from "./errors.ts";
import { cstr, shim } from "./lib.ts";

let available: boolean | undefined;

/** Whether libcrypto could be opened (asked once). */
export function nativeDigestsAvailable(): boolean {
  available ??= shim().shim_digest_available() === 0;
  return available;
}

export class NativeDigests {
  #set: Deno.PointerValue;
  #busy = false;

  constructor(readonly algs: readonly HashAlg[]) {
    if (algs.length === 0 || algs.length > DIGEST_MAX) {
      throw new RangeError(`a digest set has 1 to ${DIGEST_MAX} algorithms`);
    }
    const out = new BigUint64Array(1);
    const rc = shim().shim_digest_new(cstr(algs.join("\0")), algs.length, out);
    if (rc < 0) throw new SysError(-rc, "digest_new", algs.join(","));
    this.#set = Deno.UnsafePointer.create(out[0]);
  }

  /** Hashes `chunk` on another thread; the next call waits until this one resolved. */
  async update(chunk: Uint8Array): Promise<void> {
    if (this.#set === null) throw new Error("digest set already finished");
    if (this.#busy) throw new Error("digest update while another runs");
    this.#busy = true;
    try {
      const rc = await shim().shim_digest_update(this.#set, chunk, BigInt(chunk.length));
      if (rc < 0) throw new SysError(-rc, "digest_update", this.algs.join(","));
    } finally {
      this.#busy = false;
    }
  }

  /** The hex digests, by algorithm; frees the set. */
  final(): Map<HashAlg, string> {
    if (this.#set === null) throw new Error("digest set already finished");
    if (this.#busy) throw new Error("digest final while an update runs");
    const out = new Uint8Array(DIGEST_BYTES * this.algs.length);
    const rc = shim().shim_digest_final(this.#set, out, BigInt(out.length));
    this.free();
    if (rc < 0) throw new SysError(-rc, "digest_final", this.algs.join(","));
    return new Map(this.algs.map((a, i) => {
      const at = i * DIGEST_BYTES;
      return [a, toHex(out.subarray(at, at + HEX_LENGTH[a] / 2))];
    }));
  }

  /** Frees the set (not while an update runs); idempotent. */
  free(): void {
    if (this.#set === null || this.#busy) return;
    shim().shim_digest_free(this.#set);
    this.#set = null;
  }
}
