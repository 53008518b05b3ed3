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
  /** name → the modalias patterns it drives (modules.alias). */
  aliases: Map<string, string[]>;
}

/**
 * Parses modules.dep (`kernel/a.ko.xz: kernel/b.ko.xz kernel/c.ko.xz`), modules.builtin and
 * modules.alias (`alias pci:v00001B36d00000011sv*sd*bc*sc*i* pvpanic_pci`).
 */
export function parseModuleIndex(
  modulesDep: string,
  modulesBuiltin: string,
  modulesAlias = "",
): ModuleIndex {
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
  const aliases = new Map<string, string[]>();
  for (const line of modulesAlias.split("\n")) {
    const [word, pattern, module] = line.trim().split(/\s+/);
    if (word !== "alias" || !pattern || !module) continue;
    const name = moduleName(module);
    aliases.set(name, [...(aliases.get(name) ?? []), pattern]);
  }
  return { files, deps, builtin, aliases };
}

/**
 * Modalias kinds PID 1 can list devices of at boot (/sys/bus/{pci,virtio}/devices/N/modalias,
 * /sys/devices/system/cpu/modalias). A module whose aliases are all of these kinds is a driver:
 * loading it is pointless unless a device matches (pvpanic_pci without a pvpanic device,
 * tdx_guest outside a TD).
 */
const DEVICE_ALIAS = /^(pci|virtio|cpu):/;

/** Whether a modalias matches a modules.alias pattern (fnmatch: `*`, `?`, `[...]`). */
export function aliasMatches(pattern: string, modalias: string): boolean {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[" && pattern.indexOf("]", i + 2) > 0) {
      const end = pattern.indexOf("]", i + 2);
      const body = pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
      re += `[${body}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`).test(modalias);
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
  /**
   * Modalias patterns: load only if a device matches one (the module is a driver, or only
   * drivers need it). Absent: always load.
   */
  devices?: string[];
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
  const devices = deviceConditions(index, new Set(wanted.map((w) => moduleName(w.name))), order);
  return PHASES.flatMap((p) =>
    order.filter((n) => phase.get(n) === p).map((n) => {
      const d = devices.get(n);
      return { file: index.files.get(n)!, phase: p, ...(d ? { devices: d } : {}) };
    })
  );
}

/**
 * For each planned module, the modalias patterns one of which a device must match for it to be
 * worth loading, or null for "always". A wanted driver (all aliases of DEVICE_ALIAS kinds) needs
 * its own devices; a wanted module that is not a driver always loads; a dependency loads when
 * any module needing it does (the union of their conditions).
 */
function deviceConditions(
  index: ModuleIndex,
  wanted: Set<string>,
  planned: string[],
): Map<string, string[] | null> {
  const inPlan = new Set(planned);
  const dependents = new Map<string, string[]>();
  for (const n of planned) {
    for (const d of index.deps.get(n) ?? []) {
      if (inPlan.has(d)) dependents.set(d, [...(dependents.get(d) ?? []), n]);
    }
  }
  const memo = new Map<string, string[] | null>();
  const cond = (n: string): string[] | null => {
    if (memo.has(n)) return memo.get(n)!;
    const pats = new Set<string>();
    let always = false;
    if (wanted.has(n)) {
      const own = index.aliases.get(n) ?? [];
      if (own.length > 0 && own.every((a) => DEVICE_ALIAS.test(a))) own.forEach((a) => pats.add(a));
      else always = true;
    }
    for (const parent of dependents.get(n) ?? []) {
      const c = cond(parent);
      if (c === null) always = true;
      else c.forEach((a) => pats.add(a));
    }
    const result = always ? null : [...pats];
    memo.set(n, result);
    return result;
  };
  return new Map(planned.map((n) => [n, cond(n)]));
}

/** finit_module flag for a file the kernel must decompress itself (MODULE_INIT_COMPRESSED_FILE). */
export const MODULE_INIT_COMPRESSED_FILE = 4;

export function finitFlags(file: string): number {
  return /\.ko\.(xz|zst|gz)$/.test(file) ? MODULE_INIT_COMPRESSED_FILE : 0;
}

/**
 * The initramfs load list (`lib/modules/acond/order`): `file phase [modalias...]` per line,
 * '#' comments (formatLoadList writes it).
 */
export function parseLoadList(text: string): Planned[] {
  return specLines(text).map(([file, phase, ...devices]) => ({
    file,
    phase: parsePhase(phase, file),
    ...(devices.length ? { devices } : {}),
  }));
}

export function formatLoadList(plan: readonly Planned[]): string {
  return plan.map((p) => [p.file, p.phase, ...(p.devices ?? [])].join(" ") + "\n").join("");
}
