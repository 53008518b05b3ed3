/** Symbols of ffi/fs.c. */
export const fsSymbols = {
  shim_mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  shim_umount2: { parameters: ["buffer", "i32"], result: "i32" },
  shim_mknod: { parameters: ["buffer", "u32", "u32", "u32"], result: "i32" },
  shim_lchown: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  shim_lsetxattr: { parameters: ["buffer", "buffer", "buffer", "u64"], result: "i32" },
  shim_sync: { parameters: [], result: "void", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;
