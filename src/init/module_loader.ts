/**
 * Loads the initramfs's kernel modules phase by phase (the plan: src/init/modules.ts). The
 * `after` phase is loaded on demand, by the first caller of ensureModule() for one of its
 * modules: container Start asks for overlay, and PID 1 asks for the vsock transport only when
 * the VM has a virtio-vsock device. (Modules loaded while the API serves would take the CPU from
 * its first requests: a module load is not preemptible under Debian's default preemption model.)
 * A driver is loaded only when a device it drives is present (its modalias patterns, as udev's
 * coldplug would match them). A module that refuses to load is logged; what needed it then
 * fails with its own clear error (an overlay mount says the file system is unknown).
 */
import { aliasMatches, finitFlags, moduleName, type ModulePhase, type Planned } from "./modules.ts";
import { log } from "../util/log.ts";
import { errnoOf } from "../sys/errors.ts";

export type Finit = (path: string, flags: number) => Promise<void>;

/** The modaliases of the devices a planned driver may be for (PCI, virtio, the CPU). */
export function sysfsModaliases(sys = "/sys"): string[] {
  const out: string[] = [];
  const read = (path: string) => {
    try {
      out.push(Deno.readTextFileSync(path).trim());
    } catch { /* no such device file */ }
  };
  for (const bus of ["pci", "virtio"]) {
    try {
      for (const e of Deno.readDirSync(`${sys}/bus/${bus}/devices`)) {
        read(`${sys}/bus/${bus}/devices/${e.name}/modalias`);
      }
    } catch { /* no such bus */ }
  }
  read(`${sys}/devices/system/cpu/modalias`);
  return out;
}

export class ModuleLoader {
  /** name → settles once its load was tried. */
  readonly #tried = new Map<string, Promise<void>>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly plan: readonly Planned[],
    private readonly finit: Finit,
    private readonly modaliases: () => string[] = sysfsModaliases,
  ) {}

  /**
   * Loads the modules of `phases` not tried yet, in plan order, one load at a time. Never
   * throws. Resolves to the names loaded.
   */
  load(phases: readonly ModulePhase[]): Promise<string[]> {
    const run = async () => {
      const t0 = performance.now();
      const loaded: string[] = [];
      const skipped: string[] = [];
      let tried = 0;
      let present: string[] | null = null; // read once per call, when a driver needs it
      for (const { file, phase, devices } of this.plan) {
        const name = moduleName(file);
        if (!phases.includes(phase) || this.#tried.has(name)) continue;
        tried++;
        if (devices) {
          present ??= this.modaliases();
          if (!devices.some((d) => present!.some((m) => aliasMatches(d, m)))) {
            this.#tried.set(name, Promise.resolve());
            skipped.push(name);
            continue;
          }
        }
        const attempt = this.#loadOne(file);
        this.#tried.set(name, attempt.then(() => {}));
        if (await attempt) loaded.push(name);
      }
      const ms = (performance.now() - t0).toFixed(0);
      if (tried > 0) {
        log.info(
          `modules (${phases.join("+")}, ${ms} ms): ${loaded.join(" ") || "none"}` +
            (skipped.length ? `; no device for ${skipped.join(" ")}` : ""),
        );
      }
      return loaded;
    };
    const p = this.#queue.then(run);
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Resolves once `name` was tried, loading its phase first if needed; at once if unplanned. */
  async ensure(name: string): Promise<void> {
    const n = moduleName(name);
    const planned = this.plan.find((p) => moduleName(p.file) === n);
    if (!planned) return;
    if (!this.#tried.has(n)) await this.load([planned.phase]);
    await this.#tried.get(n);
  }

  async #loadOne(file: string): Promise<boolean> {
    try {
      await this.finit(`${this.dir}/${file}`, finitFlags(file));
      return true;
    } catch (e) {
      const code = errnoOf(e);
      // EEXIST: built in or already loaded. Otherwise e.g. tdx-guest outside a TD (ENODEV).
      if (code !== "EEXIST") log.warn(`module ${file} not loaded: ${(e as Error).message}`);
      return false;
    }
  }
}
