/** Assembles the daemon: TEE, event log, state, handlers, listeners. Shared by dev and PID-1 mode. */
import { MAX_CHUNK_BYTES, type Options } from "./options.ts";
import type { Context } from "./context.ts";
import { EventLog } from "./attest/eventlog.ts";
import { selectTee } from "./attest/select.ts";
import { measureBoot } from "./attest/boot.ts";
import { EventBus } from "./events.ts";
import { Mutex } from "./util/mutex.ts";
import { buildRoutes, type Handlers } from "./api/router.ts";
import { type Listener, type Route, serveTcp, serveUnix } from "./api/server.ts";
import { deferHandlers } from "./api/deferred.ts";
import { BLOB_STREAM_PREFIX, blobStreamRoute } from "./api/blobstream.ts";
import { healthHandlers } from "./api/handlers/health.ts";
import { powerHandlers } from "./api/handlers/power.ts";
import { log } from "./util/log.ts";
import { Layout } from "./image/layout.ts";
import type { Uploads } from "./image/upload/table.ts";

export interface Daemon {
  readonly ctx: Context;
  readonly listeners: Listener[];
  /** Path → handler, for extra listeners (PID-1 mode adds vsock and restarts dead ones). */
  readonly routes: Map<string, Route>;
  shutdown(): Promise<void>;
}

/** Handler sets served from the start (each concern contributes one, see api/handlers/). */
function bootHandlers(ctx: Context): Handlers[] {
  return [healthHandlers(ctx), powerHandlers(ctx)];
}

/** The other handler sets: loaded on the first call of any of their RPCs (api/deferred.ts). */
async function laterHandlers(ctx: Context, uploads: () => Promise<Uploads>): Promise<Handlers[]> {
  const [image, blob, container, attest, images] = await Promise.all([
    import("./api/handlers/image.ts"),
    import("./api/handlers/blob.ts"),
    import("./api/handlers/container.ts"),
    import("./api/handlers/attest.ts"),
    import("./image/service.ts"),
  ]);
  return [
    image.imageHandlers(new images.ImageService(ctx, image.imageEvents(ctx.events))),
    blob.blobHandlers(ctx, await uploads()),
    container.containerHandlers(ctx),
    attest.attestHandlers(ctx),
  ];
}

export async function startDaemon(opts: Options): Promise<Daemon> {
  await Deno.mkdir(opts.root, { recursive: true, mode: 0o700 });
  const tee = await selectTee(opts.tee);
  log.info(`TEE backend: ${tee.kind} (${tee.note})`);
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
  await measureBoot(opts, tee, ctx.eventLog);
  // The one upload table (blob RPCs and the raw stream route), built with its code on first use.
  let uploadTable: Promise<Uploads> | null = null;
  const uploads = () =>
    uploadTable ??= import("./image/upload/table.ts").then((m) => new m.Uploads(ctx));
  const handlers = deferHandlers(bootHandlers(ctx), () => laterHandlers(ctx, uploads));
  const routes = buildRoutes(handlers, Math.max(opts.maxRequestBytes, MAX_CHUNK_BYTES) + 4096);
  routes.set(BLOB_STREAM_PREFIX, blobStreamRoute(uploads)); // raw layer PUT, docs/layers.md
  const listeners: Listener[] = [await serveUnix(opts.socket, routes)];
  if (opts.tcp) listeners.push(serveTcp(opts.tcp.hostname, opts.tcp.port, routes));
  // The containers' attestation socket. As PID 1, nothing in the VM can call it before a container
  // exists, so it (and its code: reports, the binary protocol) comes with the first container
  // Start; in dev mode, host processes may call it: bound now.
  let containerSocket: Promise<{ close(): void }> | null = null;
  ctx.ensureContainerSocket = () => {
    containerSocket ??= import("./attest/ipcserver.ts").then((m) => m.startContainerSocket(ctx));
    return containerSocket.then(() => {}, (e) => {
      log.error(`container socket: ${(e as Error).message} (containers cannot attest)`);
    });
  };
  if (!opts.pid1) await ctx.ensureContainerSocket();
  return {
    ctx,
    listeners,
    routes,
    async shutdown() {
      await containerSocket?.then((c) => c.close(), () => {});
      await Promise.all(listeners.map((l) => l.shutdown()));
      const { stopContainers } = await import("./container/service.ts");
      await stopContainers(ctx, 2000);
    },
  };
}
