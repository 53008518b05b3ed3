/**
 * Loads the initramfs's kernel modules phase by phase (the plan: src/init/modules.ts) and lets
 * code that needs one wait for it: container Start waits for overlay, the vsock listener for its
 * transport. A module that refuses to load is logged and counts as settled; what needed it then
 * fails with its own clear error (an overlay mount says the file system is unknown).
 */
import { finitFlags, moduleName, type ModulePhase, type Planned } from "./modules.ts";
import { log } from "../util/log.ts";

export type Finit = (path: string, flags: number, idle: boolean) => Promise<void>;

/** name → settles once PID 1 has tried to load it. Empty outside PID 1 (dev mode). */
const attempts = new Map<string, Promise<void>>();

/** Resolves once PID 1 has tried to load `name`; at once for a module it does not load. */
export function moduleSettled(name: string): Promise<void> {
  return attempts.get(moduleName(name)) ?? Promise.resolve();
}

export class ModuleLoader {
  readonly #settle = new Map<string, () => void>();

  constructor(
    private readonly dir: string,
    private readonly plan: readonly Planned[],
    private readonly finit: Finit,
  ) {
    for (const { file } of plan) {
      const name = moduleName(file);
      attempts.set(name, new Promise<void>((resolve) => this.#settle.set(name, resolve)));
    }
  }

  /**
   * Loads the planned modules of `phases`, in plan order; `idle`: at nice 19, for phases loaded
   * while the API serves. Never throws. Returns the names loaded.
   */
  async load(phases: readonly ModulePhase[], idle: boolean): Promise<string[]> {
    const t0 = performance.now();
    const loaded: string[] = [];
    for (const { file, phase } of this.plan) {
      if (!phases.includes(phase)) continue;
      const name = moduleName(file);
      try {
        await this.finit(`${this.dir}/${file}`, finitFlags(file), idle);
        loaded.push(name);
      } catch (e) {
        const code = (e as { code?: string }).code;
        // EEXIST: built in or already loaded. Otherwise e.g. tdx-guest outside a TD (ENODEV).
        if (code !== "EEXIST") log.warn(`module ${file} not loaded: ${(e as Error).message}`);
      } finally {
        this.#settle.get(name)?.();
      }
    }
    const ms = (performance.now() - t0).toFixed(0);
    log.info(
      `modules (${phases.join("+")}${idle ? ", idle priority" : ""}, ${ms} ms): ${
        loaded.join(" ") || "none"
      }`,
    );
    return loaded;
  }
}
