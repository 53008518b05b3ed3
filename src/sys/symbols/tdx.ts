/** Symbols of ffi/tdx.c. */
export const tdxSymbols = {
  shim_ioctl_path: { parameters: ["buffer", "i32", "u64", "buffer"], result: "i32" },
  shim_tdx_quote_ioctl: {
    parameters: ["buffer", "u64", "buffer", "u64"],
    result: "i32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
