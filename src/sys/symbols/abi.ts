/** Symbols of ffi/abi.c: the ABI's version and named constants (for tests; boot binds neither). */
export const abiSymbols = {
  acond_abi_version: { parameters: [], result: "i32" },
  /** (index, name buffer, its length, out i64 value) → 0 | -ENOENT past the end | -ERANGE. */
  acond_abi_constant: { parameters: ["u32", "buffer", "u64", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
