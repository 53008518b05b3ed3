/** Symbols of ffi/init.c (none yet). */
export const initSymbols = {} as const satisfies Deno.ForeignLibraryInterface;
