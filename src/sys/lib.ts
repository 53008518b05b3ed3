/**
 * The one door to the kernel: the only place that calls Deno.dlopen. The shim's symbol tables
 * live one per C file in ./symbols/. Binding costs time per symbol (~0.15 ms each natively, 20-40x
 * that under emulation) and boot uses 7 of the 36, so each symbol is bound on its first use:
 * shim() returns one object with every symbol as a getter that dlopens (the same library,
 * refcounted) an interface of that one symbol. Binding whole tables lazily would not help: boot
 * touches the init, fs and proc tables, which hold 26 of the symbols.
 */
import { fsSymbols } from "./symbols/fs.ts";
import { procSymbols } from "./symbols/proc.ts";
import { tdxSymbols } from "./symbols/tdx.ts";
import { initSymbols } from "./symbols/init.ts";
import { layerSymbols } from "./symbols/layer.ts";
import { abiSymbols } from "./symbols/abi.ts";
import { ttySymbols } from "./symbols/tty.ts";
import { digestSymbols } from "./symbols/digest.ts";

const tables = [
  fsSymbols,
  procSymbols,
  tdxSymbols,
  initSymbols,
  layerSymbols,
  abiSymbols,
  ttySymbols,
  digestSymbols,
] as const;
type AllSymbols =
  & typeof abiSymbols
  & typeof fsSymbols
  & typeof procSymbols
  & typeof tdxSymbols
  & typeof initSymbols
  & typeof layerSymbols
  & typeof ttySymbols
  & typeof digestSymbols;
type Shim = Deno.DynamicLibrary<AllSymbols>["symbols"];

let facade: Shim | null = null;
/** Bound symbols' libraries (kept: they stay open for the process's lifetime). */
const bound: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>[] = [];

/** Where the shim is: $ACOND_SHIM, else next to the program (dist/ or the initramfs /app). */
export function shimPath(): string {
  const env = Deno.env.get("ACOND_SHIM");
  if (env) return env;
  return new URL("../../dist/libacond_shim.so", import.meta.url).pathname;
}

function bind(name: string, def: Deno.ForeignFunction | Deno.ForeignStatic): unknown {
  const path = shimPath();
  try {
    const lib = Deno.dlopen(path, { [name]: def });
    bound.push(lib);
    return lib.symbols[name];
  } catch (e) {
    throw new Error(`cannot load the C shim at ${path} (run ./scripts/build)`, { cause: e });
  }
}

/** The shim's symbols; each is bound on its first use. */
export function shim(): Shim {
  if (facade === null) {
    const f: Record<string, unknown> = {};
    for (const table of tables) {
      for (const [name, def] of Object.entries(table)) {
        if (name in f) throw new Error(`shim symbol ${name} is in two tables`);
        let fn: unknown;
        Object.defineProperty(f, name, { enumerable: true, get: () => (fn ??= bind(name, def)) });
      }
    }
    facade = f as Shim;
  }
  return facade;
}

const enc = new TextEncoder();
/** A NUL-terminated C string; null stays a NULL pointer. */
export function cstr(s: string | null | undefined): Uint8Array<ArrayBuffer> | null {
  return s == null ? null : enc.encode(s + "\0");
}
