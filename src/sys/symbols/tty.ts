/** Symbols of ffi/tty.c (the console's terminal settings). */
export const ttySymbols = {
  shim_tty_save: { parameters: ["i32", "buffer", "u64"], result: "i32" },
  shim_tty_restore: { parameters: ["i32", "buffer", "u64"], result: "i32" },
  shim_tty_raw: { parameters: ["i32", "buffer", "u64", "i32"], result: "i32" },
  shim_tty_winsize: { parameters: ["i32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
