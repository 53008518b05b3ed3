/** Assembles the daemon: TEE, event log, state, handlers, listeners. Shared by dev and PID-1 mode. */
import type { Options } from "./options.ts";
import type { Context } from "./context.ts";
import { EventLog } from "./attest/eventlog.ts";
import { selectTee } from "./attest/select.ts";
import { measureBoot } from "./attest/boot.ts";
import { startContainerSocket } from "./attest/ipcserver.ts";
import { EventBus } from "./events.ts";
import { Mutex } from "./util/mutex.ts";
import { buildRoutes, type Handlers, mergeHandlers } from "./api/router.ts";
import { type Listener, type Route, serveTcp, serveUnix } from "./api/server.ts";
import { healthHandlers } from "./api/handlers/health.ts";
import { imageHandlers } from "./api/handlers/image.ts";
import { blobHandlers } from "./api/handlers/blob.ts";
import { containerHandlers } from "./api/handlers/container.ts";
import { attestHandlers } from "./api/handlers/attest.ts";
import { powerHandlers } from "./api/handlers/power.ts";
import { log } from "./util/log.ts";
import { Layout } from "./image/layout.ts";

export interface Daemon {
  readonly ctx: Context;
  readonly listeners: Listener[];
  /** Path → handler, for extra listeners (PID-1 mode adds vsock and restarts dead ones). */
  readonly routes: Map<string, Route>;
  shutdown(): Promise<void>;
}

/** Every handler set; each concern contributes one (see api/handlers/). */
function allHandlers(ctx: Context): Handlers[] {
  return [
    healthHandlers(ctx),
    imageHandlers(ctx),
    blobHandlers(ctx),
    containerHandlers(ctx),
    attestHandlers(ctx),
    powerHandlers(ctx),
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
  const routes = buildRoutes(mergeHandlers(allHandlers(ctx)), opts.maxRequestBytes + 4096);
  const listeners: Listener[] = [await serveUnix(opts.socket, routes)];
  if (opts.tcp) listeners.push(serveTcp(opts.tcp.hostname, opts.tcp.port, routes));
  const containerSocket = await startContainerSocket(ctx);
  return {
    ctx,
    listeners,
    routes,
    async shutdown() {
      containerSocket.close();
      await Promise.all(listeners.map((l) => l.shutdown()));
    },
  };
}
