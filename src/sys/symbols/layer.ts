/** Symbols of ffi/layer.c. */
export const layerSymbols = {
  // Runs on a worker thread: a batch of file writes overlaps with the parsing of the next one.
  shim_write_files: {
    parameters: ["buffer", "buffer", "u64", "u32", "buffer"],
    result: "i64",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
