/**
 * Containers: Start, Restart, Exec, Kill, Inspect, Logs and stopping them all (behaviour file §7,
 * fixed per §11 and Image.md "Execution Environment"; docs/containers.md). One file per verb;
 * this facade owns the one-time set-up and the table, and hands both to the verbs. Everything it
 * needs of the kernel and of other concerns comes in through `ContainerDeps` (deps.ts).
 */
import type { ContainerDeps } from "./deps.ts";
import { exec, type ExecOutput, type ExecRequest } from "./exec.ts";
import { info, select } from "./inspect.ts";
import type { ContainerInfo } from "./inspect.ts";
import { logs } from "./logs.ts";
import { Registry } from "./registry.ts";
import { restart } from "./restart.ts";
import { start } from "./start.ts";
import { kill, stopAll } from "./stop.ts";

export type { ContainerDeps } from "./deps.ts";
export type { ExecRequest } from "./exec.ts";
export type { ContainerInfo } from "./inspect.ts";

const DEFAULT_OVERFLOW_UID = 65534;

export class ContainerService {
  readonly #deps: ContainerDeps;
  #reg: Registry | null = null;
  #ready: Promise<Registry> | null = null;

  constructor(deps: ContainerDeps) {
    this.#deps = deps;
  }

  /** One-time set-up: reaper, the `top` layer of mount points, /shared; then the table. */
  #init(): Promise<Registry> {
    this.#ready ??= (async () => {
      const { sys, layout, sharedDir } = this.#deps;
      this.#deps.reaper.start({ subreaper: !this.#deps.pid1 });
      const overflow = await sys.readTextFile(`${this.#deps.procRoot}/sys/kernel/overflowuid`)
        .then((t) => Number(t.trim()) || DEFAULT_OVERFLOW_UID, () => DEFAULT_OVERFLOW_UID);
      await sys.mkdir(layout.containers, 0o700);
      const reg = new Registry(this.#deps, overflow);
      for (const d of ["dev", "proc", "tmp", "run", "shared"]) {
        await sys.mkdir(`${reg.topDir}/${d}`, 0o755);
      }
      // Every container may create files there (each its own: umask 0077, sticky bit).
      await sys.mkdir(sharedDir, 0o755);
      await sys.chmod(sharedDir, 0o1777);
      return (this.#reg = reg);
    })();
    this.#ready.catch(() => (this.#ready = null));
    return this.#ready;
  }

  /** The table once set up; before any Start, every lookup fails as for an unknown id. */
  #table(): Registry {
    return this.#reg ?? new Registry(this.#deps, DEFAULT_OVERFLOW_UID);
  }

  async start(imageId: string, envs: string[]): Promise<number> {
    return await start(await this.#init(), imageId, envs);
  }

  restart(id: number, timeoutSec: number): Promise<void> {
    return restart(this.#table(), id, timeoutSec);
  }

  exec(req: ExecRequest): Promise<ExecOutput> {
    return exec(this.#table(), req);
  }

  kill(id: number, sig: number): void {
    kill(this.#table(), id, sig);
  }

  /** One container (id > 0) or all (id 0). */
  async inspect(id: number): Promise<ContainerInfo[]> {
    const reg = this.#table();
    const list = select(reg, id);
    return await Promise.all(list.map((c) => info(reg, c)));
  }

  logs(
    id: number,
    fromStart: boolean,
    follow: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<{ fd: number; data: Uint8Array; timeMs: number }> {
    return logs(this.#table(), id, fromStart, follow, signal);
  }

  /** Logs streams waiting for a container's output now (a cut stream must leave none). */
  logWaiters(id: number): number {
    return this.#table().get(id).logs?.waiters ?? 0;
  }

  /** Stops every running container (see stop.ts); a no-op before the first Start. */
  async stopAll(graceMs: number): Promise<void> {
    if (this.#reg) await stopAll(this.#reg, graceMs);
  }
}
