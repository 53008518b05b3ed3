/**
 * The container table: containers by id (never reused), id and host-uid allocation, and the
 * `maxInstances` rule (interactive Exec sessions belong to the terminal hub, deps.terminals). Everything the verbs (start.ts,
 * exec.ts, …) share lives in one `Runtime`, which the service builds once.
 */
import { AcondError, invalid, MSG } from "../errors.ts";
import type { ContainerDeps } from "./deps.ts";
import { IdAllocator } from "./ids.ts";
import type { Container } from "./types.ts";
import { LimitWatch } from "./limit_watch.ts";

/** Host uid base in dev mode (as PID 1 the container id is the host uid, as in ACON). */
export const DEV_UID_BASE = 1_000_000;

export class Registry {
  readonly #table = new Map<number, Container>();
  readonly ids: IdAllocator;

  /** OOM kills and pids-limit hits of running containers, reported as events. */
  readonly limits: LimitWatch;

  constructor(readonly deps: ContainerDeps, readonly overflowUid: number) {
    this.ids = new IdAllocator(deps.pid1 ? 0 : DEV_UID_BASE, overflowUid);
    this.limits = new LimitWatch(deps.cgroups, (id, kind, count) => {
      const c = this.#table.get(id);
      deps.events.emit({ kind, containerId: id, imageId: c?.imageId, count });
    }, deps.limitPollMs);
  }

  get(id: number): Container {
    const c = this.#table.get(id);
    if (!c) throw invalid(MSG.badContainerId);
    return c;
  }

  /** Every container, by id. */
  all(): Container[] {
    return [...this.#table.values()].sort((a, b) => a.id - b.id);
  }

  running(): Container[] {
    return [...this.#table.values()].filter((c) => c.state === "running");
  }

  /** Commits a created container: in the table and in the pod state (for attestation). */
  add(c: Container): void {
    this.#table.set(c.id, c);
    this.deps.state.containers.set(c.id, c);
  }

  /** maxInstances: running containers of the image (0 = no limit). */
  checkInstances(imageId: string, max: number): void {
    if (max <= 0) return;
    let n = 0;
    for (const c of this.#table.values()) {
      if (c.imageId === imageId && c.state === "running") n++;
    }
    if (n >= max) {
      throw new AcondError("resource_exhausted", `Too many instances (maxInstances ${max})`);
    }
  }

  /** containers/top: the empty mount points every container root gets (overlay's top layer). */
  get topDir(): string {
    return `${this.deps.layout.containers}/top`;
  }
}
