/** Symbols of ffi/tdx.c (none yet). */
export const tdxSymbols = {} as const satisfies Deno.ForeignLibraryInterface;
