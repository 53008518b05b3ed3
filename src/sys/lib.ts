/**
 * The one door to the kernel: the only place that calls Deno.dlopen. The shim's symbol tables
 * live one per C file in ./symbols/ and are merged here.
 */
import { fsSymbols } from "./symbols/fs.ts";
import { procSymbols } from "./symbols/proc.ts";
import { tdxSymbols } from "./symbols/tdx.ts";
import { initSymbols } from "./symbols/init.ts";
import { layerSymbols } from "./symbols/layer.ts";

const symbols = {
  ...fsSymbols,
  ...procSymbols,
  ...tdxSymbols,
  ...initSymbols,
  ...layerSymbols,
} as const;
type Shim = Deno.DynamicLibrary<typeof symbols>["symbols"];

let lib: Deno.DynamicLibrary<typeof symbols> | null = null;

/** Where the shim is: $ACOND_SHIM, else next to the program (dist/ or the initramfs /app). */
export function shimPath(): string {
  const env = Deno.env.get("ACOND_SHIM");
  if (env) return env;
  return new URL("../../dist/libacond_shim.so", import.meta.url).pathname;
}

/** The loaded shim; loads it on first use. */
export function shim(): Shim {
  if (lib === null) {
    const path = shimPath();
    try {
      lib = Deno.dlopen(path, symbols);
    } catch (e) {
      throw new Error(`cannot load the C shim at ${path} (run ./scripts/build)`, { cause: e });
    }
  }
  return lib.symbols;
}

const enc = new TextEncoder();
/** A NUL-terminated C string; null stays a NULL pointer. */
export function cstr(s: string | null | undefined): Uint8Array<ArrayBuffer> | null {
  return s == null ? null : enc.encode(s + "\0");
}
