/** src/sys/lib.ts: every symbol of every table is reachable through shim(), bound on first use. */
import { assertEquals } from "../../helpers/assert.ts";
import { cstr, shim } from "../../../src/sys/lib.ts";
import { fsSymbols } from "../../../src/sys/symbols/fs.ts";
import { procSymbols } from "../../../src/sys/symbols/proc.ts";
import { tdxSymbols } from "../../../src/sys/symbols/tdx.ts";
import { initSymbols } from "../../../src/sys/symbols/init.ts";
import { layerSymbols } from "../../../src/sys/symbols/layer.ts";
import { abiSymbols } from "../../../src/sys/symbols/abi.ts";
import { ttySymbols } from "../../../src/sys/symbols/tty.ts";
import { digestSymbols } from "../../../src/sys/symbols/digest.ts";

Deno.test("shim(): all 8 tables' symbols, each a function bound once, that calls into the shim", async () => {
  const s = shim() as unknown as Record<string, unknown>;
  const tables = [
    fsSymbols,
    procSymbols,
    tdxSymbols,
    initSymbols,
    layerSymbols,
    abiSymbols,
    ttySymbols,
    digestSymbols,
  ];
  const names = tables.flatMap((t) => Object.keys(t)).sort();
  assertEquals(Object.keys(s).sort(), names);
  assertEquals(shim(), shim());
  for (const n of names) {
    assertEquals(typeof s[n], "function", n);
    assertEquals(s[n], s[n], `${n} is bound once`);
  }
  // A synchronous and a nonblocking symbol really call the C code.
  assertEquals(shim().shim_lchown(cstr("/nonexistent/acond-probe"), 0, 0), -2); // -ENOENT
  assertEquals(await shim().shim_sync(), null);
});
