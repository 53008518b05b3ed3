/** Symbols of ffi/digest.c. */
export const digestSymbols = {
  /** () → 0 | -ENOENT (no libcrypto.so.3) | -errno. */
  shim_digest_available: { parameters: [], result: "i32" },
  /** (NUL-separated names, count, out pointer) → 0 | -EINVAL (unknown name) | -errno. */
  shim_digest_new: { parameters: ["buffer", "u32", "buffer"], result: "i32" },
  // Runs on another thread: the hashing overlaps with the extraction.
  shim_digest_update: {
    parameters: ["pointer", "buffer", "u64"],
    result: "i32",
    nonblocking: true,
  },
  shim_digest_final: { parameters: ["pointer", "buffer", "u64"], result: "i32" },
  shim_digest_free: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;
