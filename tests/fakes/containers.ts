/**
 * A container service over the fake kernel (fake_sys.ts): real service code, real reaper, real
 * event bus and lock; fake processes, fds, mounts and files. `snapshot()` is what "nothing left
 * half-done" means in the tests: mounts, the daemon's fds, live processes, open attestation
 * sockets, container directories and table entries.
 */
import { ContainerService } from "../../src/container/service.ts";
import type { AttestSockets } from "../../src/container/deps.ts";
import { Reaper } from "../../src/proc/reaper.ts";
import { Layout } from "../../src/layout.ts";
import { Mutex } from "../../src/util/mutex.ts";
import { type AcondEvent, EventBus } from "../../src/events.ts";
import type { PodState } from "../../src/state.ts";
import type { LoadedImage, Manifest } from "../../src/state.ts";
import { SysError } from "../../src/sys/errors.ts";
import { FakeSys } from "./fake_sys.ts";
import { type TerminalLimits, Terminals } from "../../src/console/terminals.ts";
import { Cgroups, DEFAULT_LIMITS } from "../../src/container/cgroup.ts";
import { cgroupPlan } from "../../src/container/cgroup_plan.ts";

export const ROOT = "/state";
export const SHARED = "/state/shared";
/** The containers' cgroups in the fake kernel. */
export const CGROUPS = cgroupPlan("/sys/fs/cgroup", "acond");

/** Attestation sockets that are just a set (and can be told to fail). */
export class FakeSockets implements AttestSockets {
  readonly open_ = new Set<number>();
  failOpen = false;
  open(cid: number): Promise<string> {
    if (this.failOpen) return Promise.reject(new SysError(98, "bind")); // EADDRINUSE
    this.open_.add(cid);
    return Promise.resolve(`${ROOT}/ipc/${cid}.sock`);
  }
  close(cid: number): Promise<void> {
    this.open_.delete(cid);
    return Promise.resolve();
  }
}

export function manifest(m: Partial<Manifest> = {}): Manifest {
  return {
    aconSpecVersion: [1, 0],
    layers: ["sha384/" + "a".repeat(96)],
    aliases: { contents: {}, self: {} },
    entrypoint: ["/bin/sleep", "1000"],
    env: [],
    workingDir: "/",
    uids: [],
    logFDs: [1, 2],
    writableFS: false,
    noRestart: false,
    signals: [15, 9],
    maxInstances: 0,
    policy: { accepts: [], rejectUnaccepted: false },
    ...m,
  };
}

export interface Harness {
  sys: FakeSys;
  svc: ContainerService;
  /** The terminal hub the service's ptys come from (over the same fake kernel). */
  hub: Terminals;
  sockets: FakeSockets;
  state: PodState;
  events: AcondEvent[];
  modules: string[];
  /** The pod lock the service shares with Report, Finalize and the container socket. */
  lock: Mutex;
  /** Adds an image whose layers exist; returns its id. */
  image(m?: Partial<Manifest>): string;
  /** Lets the fake's readiness and child signals run (a few macrotasks). */
  settle(): Promise<void>;
  snapshot(): Snapshot;
}

export interface Snapshot {
  mounts: string[];
  fds: number[];
  alive: number[];
  sockets: number[];
  containerDirs: string[];
  table: number;
  /** Containers' cgroups. */
  cgroups: string[];
}

export interface HarnessOptions {
  /** The daemon's interactive mode (pty Execs allowed; default on). */
  interactive?: boolean;
  /** Poll the containers' limit counters (ms; default 0: on exit and Inspect only). */
  limitPollMs?: number;
  /** No cgroup sub-tree (cgroup2 missing): containers get no group. */
  noCgroups?: boolean;
  /** The hub's limits (default: no drain wait or linger after an exit, so no timer stays). */
  terminalLimits?: Partial<TerminalLimits>;
}

export function harness(opts: HarnessOptions = {}): Harness {
  const sys = new FakeSys();
  sys.writeFile("/proc/sys/kernel/overflowuid", "65534\n");
  sys.writeFile(`${CGROUPS.containers}/cgroup.procs`, "");
  const cgroups = new Cgroups(
    sys,
    opts.noCgroups ? null : CGROUPS,
    { ...DEFAULT_LIMITS },
    opts.noCgroups ? [] : ["memory", "pids"],
  );
  const layout = new Layout(ROOT);
  const state: PodState = { finalized: false, images: new Map(), containers: new Map() };
  const bus = new EventBus();
  const events: AcondEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const sockets = new FakeSockets();
  const modules: string[] = [];
  const lock = new Mutex();
  const hub = new Terminals({
    sys,
    fds: sys.watcher,
    limits: { drainMs: 0, lingerMs: 0, ...opts.terminalLimits },
  });
  const svc = new ContainerService({
    sys,
    procRoot: "/proc",
    reaper: new Reaper(sys, { onChildSignal: sys.onChildSignal, pollMs: 0 }),
    fds: sys.watcher,
    layout,
    lock,
    state,
    events: bus,
    pid1: false,
    interactive: opts.interactive ?? true,
    terminals: hub,
    sharedDir: SHARED,
    ensureModule: (name) => {
      modules.push(name);
      return Promise.resolve();
    },
    attestSockets: sockets,
    cgroups,
    limitPollMs: opts.limitPollMs ?? 0,
  });
  let n = 0;
  return {
    sys,
    svc,
    hub,
    sockets,
    state,
    events,
    modules,
    lock,
    image(m = {}) {
      const man = manifest(m);
      const id = `sha384/${"b".repeat(96)}/${String(++n).padStart(96, "0")}`;
      const img: LoadedImage = {
        id,
        alg: "sha384",
        signerDigest: "b".repeat(96),
        manifestDigest: String(n).padStart(96, "0"),
        manifest: man,
        raw: new Uint8Array(),
        certificate: new Uint8Array(),
      };
      man.layers.forEach((l, i) => {
        const hex = l.slice(l.lastIndexOf("/") + 1);
        sys.writeFile(`${layout.layerDir(hex)}/bin/sleep`, "#!");
        sys.symlink(`${layout.imageDir(id)}/l/${i}`, layout.layerDir(hex));
      });
      state.images.set(id, img);
      return id;
    },
    async settle() {
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
    },
    snapshot() {
      return {
        mounts: [...sys.mounts.keys()],
        fds: sys.daemonFds(),
        alive: sys.alive().map((p) => p.pid),
        sockets: [...sockets.open_],
        containerDirs: sys.under(layout.containers).filter((p) => /containers\/\d+$/.test(p)),
        table: state.containers.size,
        cgroups: sys.under(CGROUPS.containers).filter((p) => /containers\/\d+$/.test(p)),
      };
    },
  };
}
