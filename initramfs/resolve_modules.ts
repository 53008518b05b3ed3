/**
 * Build-time helper of scripts/initramfs: prints the module files to pack, dependencies first.
 * Usage: deno run -A initramfs/resolve_modules.ts MODULE_DIR LIST_FILE
 */
import { parseLoadList, parseModuleIndex, resolveModules } from "../src/init/modules.ts";

const [dir, listFile] = Deno.args;
const index = parseModuleIndex(
  Deno.readTextFileSync(`${dir}/modules.dep`),
  Deno.readTextFileSync(`${dir}/modules.builtin`),
);
try {
  for (const f of resolveModules(index, parseLoadList(Deno.readTextFileSync(listFile)))) {
    console.log(f);
  }
} catch (e) {
  console.error(`initramfs: ${(e as Error).message}`);
  Deno.exit(1);
}
