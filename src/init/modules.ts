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
 * When PID 1 loads a module:
 * - boot: before the network and the API (the NIC; pvpanic, so a panic is seen from early on);
 * - tee: before the TEE is chosen (TDX guest support); not at all with `acond.tee=sim`;
 * - after: on demand once the API is up (src/init/module_loader.ts): overlay by the first
 *   container Start, the vsock transport when the VM has a virtio-vsock device.
 */
export type ModulePhase = "boot" | "tee" | "after";
export const PHASES: readonly ModulePhase[] = ["boot", "tee", "after"];

export interface Wanted {
  name: string;
  phase: ModulePhase;
}

export interface Planned {
  /** Path relative to the module directory (build time) or file name (boot time). */
  file: string;
  phase: ModulePhase;
}

function parsePhase(word: string | undefined, where: string): ModulePhase {
  if (word === undefined) return "boot";
  if ((PHASES as readonly string[]).includes(word)) return word as ModulePhase;
  throw new ModuleError(`${where}: unknown phase "${word}" (one of ${PHASES.join(", ")})`);
}

function specLines(text: string): string[][] {
  return text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter((l) => l !== "")
    .map((l) => l.split(/\s+/));
}

/** initramfs/modules: `name [phase]` per line (phase defaults to boot), '#' comments. */
export function parseModuleSpec(text: string): Wanted[] {
  return specLines(text).map(([name, phase, extra], i) => {
    if (extra !== undefined) throw new ModuleError(`line ${i + 1}: expected "name [phase]"`);
    return { name, phase: parsePhase(phase, `module ${name}`) };
  });
}

/**
 * The files to load, each once, grouped by phase (boot, tee, after) and dependencies first
 * within a phase. A dependency is loaded in the earliest phase of anything that needs it, so
 * every module finds its dependencies loaded. Built-in modules are skipped; an unknown module or
 * a dependency cycle throws.
 */
export function resolveModules(index: ModuleIndex, wanted: Wanted[]): Planned[] {
  const rank = (p: ModulePhase) => PHASES.indexOf(p);
  const phase = new Map<string, ModulePhase>();
  const order: string[] = []; // depth-first, dependencies first
  const active = new Set<string>();
  const visit = (raw: string, want: ModulePhase, chain: string[]) => {
    const name = moduleName(raw);
    if (index.builtin.has(name)) return;
    if (active.has(name)) {
      throw new ModuleError(`module dependency cycle: ${[...chain, name].join(" -> ")}`);
    }
    if (!index.files.has(name)) {
      throw new ModuleError(
        `module ${name} not found${chain.length ? ` (needed by ${chain.at(-1)})` : ""}`,
      );
    }
    const seen = phase.get(name);
    if (seen !== undefined && rank(seen) <= rank(want)) return;
    phase.set(name, want); // first visit, or needed earlier than planned: move it (and its deps)
    active.add(name);
    for (const d of index.deps.get(name) ?? []) visit(d, want, [...chain, name]);
    active.delete(name);
    if (seen === undefined) order.push(name);
  };
  for (const w of wanted) visit(w.name, w.phase, []);
  return PHASES.flatMap((p) =>
    order.filter((n) => phase.get(n) === p).map((n) => ({ file: index.files.get(n)!, phase: p }))
  );
}

/** finit_module flag for a file the kernel must decompress itself (MODULE_INIT_COMPRESSED_FILE). */
export const MODULE_INIT_COMPRESSED_FILE = 4;

export function finitFlags(file: string): number {
  return /\.ko\.(xz|zst|gz)$/.test(file) ? MODULE_INIT_COMPRESSED_FILE : 0;
}

/** The initramfs load list (`lib/modules/acond/order`): `file phase` per line, '#' comments. */
export function parseLoadList(text: string): Planned[] {
  return specLines(text).map(([file, phase]) => ({ file, phase: parsePhase(phase, file) }));
}
