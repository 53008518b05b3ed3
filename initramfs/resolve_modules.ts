/**
 * Build-time helper of scripts/initramfs: prints the module files to pack with their load phase
 * (`path phase`), grouped by phase, dependencies first.
 * Usage: deno run -A initramfs/resolve_modules.ts MODULE_DIR SPEC_FILE
 */
import { parseModuleIndex, parseModuleSpec, resolveModules } from "../src/init/modules.ts";

const [dir, specFile] = Deno.args;
try {
  const index = parseModuleIndex(
    Deno.readTextFileSync(`${dir}/modules.dep`),
    Deno.readTextFileSync(`${dir}/modules.builtin`),
  );
  for (const p of resolveModules(index, parseModuleSpec(Deno.readTextFileSync(specFile)))) {
    console.log(`${p.file} ${p.phase}`);
  }
} catch (e) {
  console.error(`initramfs: ${specFile}: ${(e as Error).message}`);
  Deno.exit(1);
}
