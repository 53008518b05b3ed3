/**
 * The composition root: builds every service of the daemon and hands each its dependencies.
 * Shared by dev and PID-1 mode; what only PID 1 has (power-down, the kernel module loader) comes
 * in as a `Platform` built by init/pid1.ts. Services whose code is heavy (images, blobs,
 * containers, reports, the container socket) are built on first use, here too, from the same
 * parts: boot only has to answer (api/deferred.ts).
 */
import { DEFAULT_LIMITS, MAX_CHUNK_BYTES, type Options, sharedDir } from "./options.ts";
import type { Context } from "./context.ts";
import { EventLog } from "./attest/eventlog.ts";
import { selectTee } from "./attest/select.ts";
import { applyLaunchConfig } from "./attest/launch.ts";
import { measureBoot } from "./attest/boot.ts";
import { EventBus } from "./events.ts";
import { Mutex } from "./util/mutex.ts";
import { buildRoutes, type Handlers } from "./api/router.ts";
import {
  type Listener,
  type Route,
  type ServeConfig,
  serveConfig,
  serveTcp,
  serveUnix,
  serveVsock,
} from "./api/server.ts";
import { deferHandlers } from "./api/deferred.ts";
import { budgetAddBlob } from "./api/bodygate.ts";
import { streamLimits } from "./api/stream_slots.ts";
import { streamAddBlobRoute } from "./api/addblob_stream.ts";
import { type PeerGuards, peerGuards } from "./api/peer.ts";
import { DEV_UID_BASE } from "./container/registry.ts";
import { blobStreamRoute } from "./api/blobstream.ts";
import { BLOB_STREAM_PREFIX } from "./api/wire.ts";
import { REST_PREFIX, restRoute } from "./api/rest/mod.ts";
import { healthHandlers } from "./api/handlers/health.ts";
import { powerHandlers } from "./api/handlers/power.ts";
import { terminalHandlers } from "./api/handlers/terminal.ts";
import { Terminals } from "./console/terminals.ts";
import type { TerminalHub } from "./console/hub.ts";
import { log } from "./util/log.ts";
import { Layout } from "./layout.ts";
import type { PowerFn } from "./power.ts";
import { Reaper } from "./proc/reaper.ts";
import { Poller } from "./proc/poller.ts";
import { linuxSys } from "./sys/linux.ts";
import type { AttestSockets } from "./container/deps.ts";
import { Cgroups } from "./container/cgroup.ts";
import type { ContainerService } from "./container/service.ts";
import type { Uploads } from "./image/upload/table.ts";
import { STREAM_IDLE_MS } from "./image/upload/body.ts";
import type { TlsIdentity } from "./attest/ratls/identity.ts";

/** What the daemon gets from its mode: PID 1 has power-down and loads kernel modules. */
export interface Platform {
  /** The graceful power-down behind Shutdown and Reboot; null: those RPCs are refused. */
  power: PowerFn | null;
  /** Makes a kernel module available (PID 1: loads it on first use). */
  ensureModule(name: string): Promise<void>;
  /** A start-up step ended (PID 1: its time goes on the ready line, init/phases.ts). */
  step?(name: string): void;
}

/** How often running containers' OOM and pids-limit counters are read (Watch events). */
const LIMIT_POLL_MS = 500;

/** Dev mode: no power actions, the host's kernel already has its modules. */
export const DEV_PLATFORM: Platform = { power: null, ensureModule: () => Promise.resolve() };

export interface Daemon {
  readonly ctx: Context;
  readonly listeners: Listener[];
  /** Path → handler, for extra listeners (PID-1 mode adds vsock and restarts dead ones). */
  readonly routes: Map<string, Route>;
  /** What TCP and vsock listeners check before serving a request: no container may call. */
  readonly peerGuards: PeerGuards;
  /** The limits and the descriptor budget every listener of this daemon shares. */
  readonly serveConfig: ServeConfig;
  /** The TCP and vsock listeners' attested TLS certificate (attest/ratls/); null with acond.tls=off. */
  readonly tls: Promise<TlsIdentity> | null;
  /**
   * Ends every open stream (Watch, Logs, KernelLog: they finish as if done); unary calls go on.
   * The first step of every shutdown, so that no listener waits on a stream that never ends.
   */
  endStreams(): void;
  /** The one owner of waitpid(-1) (PID 1 starts it at boot: every orphan is ours). */
  readonly reaper: Reaper;
  /** The terminals of interactive mode (empty when it is off), for the console's front end. */
  readonly terminals: TerminalHub;
  /** Stops every container within graceMs; false when none was ever started. */
  stopContainers(graceMs: number): Promise<boolean>;
  shutdown(): Promise<void>;
}

export async function startDaemon(
  given: Options,
  platform = DEV_PLATFORM,
): Promise<Daemon> {
  const step = (name: string) => platform.step?.(name);
  // As PID 1, whether this boot's state root is new (read before it is made).
  const newPid1Root = given.pid1 && isEmptyOrAbsent(given.root);
  await Deno.mkdir(given.root, { recursive: true, mode: 0o700 });
  const tee = await selectTee(given.tee, undefined, undefined, given.simMrConfigId);
  log.info(`TEE backend: ${tee.kind} (${tee.note})`);
  // A launch configuration bound to MRCONFIGID replaces the settings (or refuses all images).
  const opts = await applyLaunchConfig(given, tee);
  step("tee");
  const ctx: Context = {
    opts,
    tee,
    eventLog: new EventLog(`${opts.root}/rtmr/rtmr3.log`, tee),
    events: new EventBus(),
    lock: new Mutex(),
    state: { finalized: false, images: new Map(), containers: new Map() },
    layout: new Layout(opts.root),
    startedAt: Date.now(),
  };
  // Nothing of an earlier daemon's containers (processes, mounts, trees) reaches a new one. As
  // PID 1 with a new root there is none: no process ran before PID 1, and a tree or a mount
  // point would be an entry of the root. (In dev mode an old container can outlive its tree.)
  if (newPid1Root) {
    log.info(`state root ${opts.root} is new with this boot: nothing to recover`);
  } else {
    await (await import("./container/recover.ts")).recoverRoot(linuxSys, ctx.layout, {
      procRoot: "/proc",
      sharedDir: opts.pid1 ? null : sharedDir(opts),
    });
  }
  step("recover");
  // Before measuring: the boot event records the limits that are actually enforced.
  const cgroups = await Cgroups.setup({
    sys: linuxSys,
    procRoot: "/proc",
    pid1: opts.pid1,
    pid: Deno.pid,
    limits: opts.limits ?? DEFAULT_LIMITS,
  });
  step("cgroups");
  await measureBoot(opts, tee, ctx.eventLog, cgroups.facts());
  step("measure");
  // The attested TLS certificate of the TCP and vsock listeners: its TlsKey event right after
  // the boot's.
  const tls = (opts.tcp || opts.vsock != null) && opts.tls !== false
    ? import("./attest/ratls/identity.ts").then((m) => m.makeTlsIdentity(ctx))
    : null;
  const reaper = new Reaper(linuxSys);
  // The one poller of raw fds, and the one owner of ptys (containers' and Execs' terminals).
  const poller = new Poller();
  const terminals = new Terminals({ sys: linuxSys, fds: poller });
  const interactive = opts.interactive ?? false;
  const sockets = containerSockets(ctx);
  let containers: ContainerService | null = null;
  // The one upload table (blob RPCs and the raw stream route), built with its code on first use.
  let uploadTable: Promise<Uploads> | null = null;
  const uploads = () =>
    uploadTable ??= import("./image/upload/table.ts").then((m) => new m.Uploads(ctx));

  /** The handler sets behind the deferred RPCs, and the services they call. */
  // Open streams per RPC, daemon-wide (h2c multiplexes many on one connection): api/stream_slots.ts.
  const streams = streamLimits();
  const laterHandlers = async (): Promise<Handlers[]> => {
    const [image, blob, container, attest, images, service] = await Promise.all([
      import("./api/handlers/image.ts"),
      import("./api/handlers/blob.ts"),
      import("./api/handlers/container.ts"),
      import("./api/handlers/attest.ts"),
      import("./image/service.ts"),
      import("./container/service.ts"),
    ]);
    containers = new service.ContainerService({
      sys: linuxSys,
      procRoot: "/proc",
      reaper,
      fds: poller,
      layout: ctx.layout,
      lock: ctx.lock,
      state: ctx.state,
      events: ctx.events,
      pid1: opts.pid1,
      interactive,
      terminals,
      sharedDir: sharedDir(opts),
      ensureModule: platform.ensureModule,
      attestSockets: sockets.port,
      cgroups,
      limitPollMs: LIMIT_POLL_MS,
    });
    return [
      image.imageHandlers(
        new images.ImageService(ctx, {
          imageAdded: (imageId) => ctx.events.emit({ kind: "image_added", imageId }),
          finalized: () => ctx.events.emit({ kind: "finalized" }),
        }),
      ),
      blob.blobHandlers(ctx, await uploads()),
      container.containerHandlers(containers, ctx.events, streams),
      attest.attestHandlers(ctx),
    ];
  };

  const handlers = deferHandlers(
    [
      healthHandlers(ctx),
      powerHandlers(platform.power, streams),
      terminalHandlers(terminals, interactive),
    ],
    laterHandlers,
  );
  const streamsEnd = new AbortController();
  const readMaxBytes = Math.max(opts.maxRequestBytes, MAX_CHUNK_BYTES) + 4096;
  const routes = buildRoutes(handlers, readMaxBytes, streamsEnd.signal);
  routes.set(BLOB_STREAM_PREFIX, blobStreamRoute(uploads)); // raw layer PUT, docs/layers.md
  // Binary unary AddBlobs streamed into the extraction (api/addblob_stream.ts), then the gate.
  streamAddBlobRoute(
    routes,
    () => import("./image/upload/unary.ts").then((m) => m.unaryBlobs(ctx)),
    { readMaxBytes, idleMs: STREAM_IDLE_MS },
  );
  // ACON's REST API (aconcli), on the same listeners: docs/api.md "REST (ACON compatibility)".
  const rest = { handlers, uploads, maxBody: readMaxBytes, shutdownSignal: streamsEnd.signal };
  routes.set(REST_PREFIX, restRoute(rest));
  budgetAddBlob(routes, opts.maxRequestBytes); // bodies held at once: api/bodygate.ts
  const guards = peerGuards({ pid1: opts.pid1, devUidBase: DEV_UID_BASE });
  const serve = serveConfig(opts.conn);
  step("routes");
  // In dev mode host processes may call the container socket: bound (and its mode set) before
  // the API answers, so a client that saw Health can use it. As PID 1 nothing in the VM can call
  // it before a container exists: it comes with the first Start.
  if (!opts.pid1) await sockets.bindShared();
  // Dev mode: the certificate before any listener, so that TCP is up when the socket answers.
  const cert = tls && !opts.pid1 ? await tls : undefined;
  const listeners: Listener[] = [await serveUnix(opts.socket, routes, serve)];
  step("unix");
  // PID 1 opens TCP and vsock itself (init/pid1.ts, supervised) from the effective options.
  if (opts.tcp && !opts.pid1) {
    listeners.push(serveTcp(opts.tcp.hostname, opts.tcp.port, routes, guards.tcp, serve, cert));
  }
  if (opts.vsock != null && !opts.pid1) {
    listeners.push(serveVsock(opts.vsock, routes, guards.vsock, serve, cert));
  }
  // Interactive mode: the multiplexer on the console (console/mux/, loaded only then).
  const consoleMux = interactive && opts.console
    ? (await import("./console/mux/mod.ts")).startConsole({
      path: opts.console,
      hub: terminals,
      sys: linuxSys,
      fds: poller,
      reaper,
      debugShell: opts.debugShell ?? false,
      consoleIsStderr: opts.pid1,
      pid1: opts.pid1,
      resizePty: linuxSys.resizePty,
    })
    : null;
  const stopContainers = async (graceMs: number) => {
    if (!containers) return false;
    await containers.stopAll(graceMs);
    return true;
  };
  return {
    ctx,
    listeners,
    routes,
    peerGuards: guards,
    serveConfig: serve,
    tls,
    endStreams: () => streamsEnd.abort(),
    reaper,
    terminals,
    stopContainers,
    async shutdown() {
      // Streams first: a listener lets requests in flight finish, and a Watch never does. Then
      // no new work (listeners cut what is left after their grace), then the containers.
      streamsEnd.abort();
      consoleMux?.stop(); // the console's own settings back
      await sockets.closeAll();
      await Promise.all(listeners.map((l) => l.shutdown().catch(() => {})));
      await stopContainers(2000);
      if (!opts.pid1) await cgroups.close([...ctx.state.containers.keys()], Deno.pid);
    },
  };
}

function isEmptyOrAbsent(dir: string): boolean {
  try {
    for (const _ of Deno.readDirSync(dir)) return false;
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

/**
 * The containers' attestation sockets (attest/ipcserver.ts, loaded on first use): the shared one
 * at /shared/acon.sock, and each container's own, bound over it in the container's namespace.
 */
function containerSockets(ctx: Context) {
  let server: Promise<import("./attest/ipcserver.ts").ContainerSockets> | null = null;
  let shared: Promise<{ close(): void } | null> | null = null;
  const load = () =>
    server ??= import("./attest/ipcserver.ts").then((m) =>
      new m.ContainerSockets(ctx, `${ctx.opts.root}/ipc`)
    );
  const bindShared = () =>
    shared ??= Promise.all([load(), import("./attest/ipcserver.ts")]).then(([s, m]) =>
      m.startContainerSocket(s, m.containerSocketPath(ctx.opts))
    ).catch((e) => {
      log.error(`container socket: ${(e as Error).message} (containers cannot attest)`);
      return null;
    });
  const port: AttestSockets = {
    async open(cid) {
      if (!(await bindShared())) return ""; // no shared socket to bind over
      return await (await load()).open(cid);
    },
    async close(cid) {
      if (server) await (await server).close(cid);
    },
  };
  return {
    port,
    bindShared,
    async closeAll() {
      (await shared)?.close();
    },
  };
}
