/**
 * Kernel-module dependency resolution, used at build time (scripts/initramfs) on the output of
 * `depmod` for the packaged kernel, and the load list read at boot. Pure.
 */

/** Module names compare with '-' and '_' equal, as the kernel does. */
export function moduleName(pathOrName: string): string {
  const base = pathOrName.slice(pathOrName.lastIndexOf("/") + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, "").replaceAll("-", "_");
}

export interface ModuleIndex {
  /** name → path relative to the module directory. */
  files: Map<string, string>;
  /** name → names it needs (modules.dep lists the whole closure). */
  deps: Map<string, string[]>;
  /** Built into the kernel: nothing to load. */
  builtin: Set<string>;
}

/** Parses modules.dep (`kernel/a.ko.xz: kernel/b.ko.xz kernel/c.ko.xz`) and modules.builtin. */
export function parseModuleIndex(modulesDep: string, modulesBuiltin: string): ModuleIndex {
  const files = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const file = line.slice(0, colon).trim();
    const name = moduleName(file);
    files.set(name, file);
    deps.set(name, line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleName));
  }
  const builtin = new Set(
    modulesBuiltin.split("\n").map((l) => l.trim()).filter(Boolean).map(moduleName),
  );
  return { files, deps, builtin };
}

export class ModuleError extends Error {}

/**
 * The files to load, dependencies first, each once, in a stable order (the request order,
 * depth-first). Built-in modules are skipped; an unknown module or a dependency cycle throws.
 */
export function resolveModules(index: ModuleIndex, wanted: string[]): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const active = new Set<string>();
  const visit = (raw: string, chain: string[]) => {
    const name = moduleName(raw);
    if (done.has(name) || index.builtin.has(name)) return;
    if (active.has(name)) {
      throw new ModuleError(`module dependency cycle: ${[...chain, name].join(" -> ")}`);
    }
    const file = index.files.get(name);
    if (!file) {
      throw new ModuleError(
        `module ${name} not found${chain.length ? ` (needed by ${chain.at(-1)})` : ""}`,
      );
    }
    active.add(name);
    for (const d of index.deps.get(name) ?? []) visit(d, [...chain, name]);
    active.delete(name);
    done.add(name);
    order.push(file);
  };
  for (const w of wanted) visit(w, []);
  return order;
}

/** finit_module flag for a file the kernel must decompress itself (MODULE_INIT_COMPRESSED_FILE). */
export const MODULE_INIT_COMPRESSED_FILE = 4;

export function finitFlags(file: string): number {
  return /\.ko\.(xz|zst|gz)$/.test(file) ? MODULE_INIT_COMPRESSED_FILE : 0;
}

/** The initramfs load list: one file name per line, '#' comments allowed. */
export function parseLoadList(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}
