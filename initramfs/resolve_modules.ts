/**
 * Build-time helper of scripts/initramfs: prints the module files to pack, grouped by phase,
 * dependencies first, as load-list lines (`path phase [modalias...]`, src/init/modules.ts).
 * Usage: deno run -A initramfs/resolve_modules.ts MODULE_DIR SPEC_FILE
 */
import {
  formatLoadList,
  parseModuleIndex,
  parseModuleSpec,
  resolveModules,
} from "../src/init/modules.ts";

const [dir, specFile] = Deno.args;
try {
  const index = parseModuleIndex(
    Deno.readTextFileSync(`${dir}/modules.dep`),
    Deno.readTextFileSync(`${dir}/modules.builtin`),
    Deno.readTextFileSync(`${dir}/modules.alias`),
  );
  const plan = resolveModules(index, parseModuleSpec(Deno.readTextFileSync(specFile)));
  Deno.stdout.writeSync(new TextEncoder().encode(formatLoadList(plan)));
} catch (e) {
  console.error(`initramfs: ${specFile}: ${(e as Error).message}`);
  Deno.exit(1);
}
