/** Symbols of ffi/init.c. */
export const initSymbols = {
  shim_reboot: { parameters: ["u32"], result: "i32" },
  // Module init can take a while (decompression, driver probe): off the JS thread.
  shim_finit_module: { parameters: ["buffer", "buffer", "i32"], result: "i32", nonblocking: true },
  shim_if_config: { parameters: ["buffer", "u32", "u32", "u32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
