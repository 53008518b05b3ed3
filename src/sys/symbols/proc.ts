/** Symbols of ffi/proc.c (none yet). */
export const procSymbols = {} as const satisfies Deno.ForeignLibraryInterface;
