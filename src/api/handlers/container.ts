/** Container RPCs: decode, call the container service, encode (src/container/service.ts). */
import type { ContainerService } from "../../container/service.ts";
import type { EventBus, EventKind } from "../../events.ts";
import { Event_Kind } from "../../gen/acon_pb.ts";
import type { Handlers } from "../router.ts";
import type { StreamLimits } from "../stream_slots.ts";

/** uint64 seconds from the wire, clamped to what a timer can hold. */
function seconds(v: bigint): number {
  return v > 1_000_000n ? 1_000_000 : Number(v);
}

const KINDS: Record<EventKind, Event_Kind> = {
  image_added: Event_Kind.IMAGE_ADDED,
  container_started: Event_Kind.CONTAINER_STARTED,
  container_exited: Event_Kind.CONTAINER_EXITED,
  container_restarted: Event_Kind.CONTAINER_RESTARTED,
  finalized: Event_Kind.FINALIZED,
  container_oom: Event_Kind.CONTAINER_OOM,
  container_pids_limit: Event_Kind.CONTAINER_PIDS_LIMIT,
};

export function containerHandlers(
  svc: ContainerService,
  events: EventBus,
  streams: StreamLimits,
): Handlers {
  return {
    async start(req) {
      return { containerId: await svc.start(req.imageId, req.envs) };
    },
    async restart(req) {
      await svc.restart(req.containerId, seconds(req.timeout));
      return {};
    },
    async exec(req) {
      return await svc.exec({
        containerId: req.containerId,
        command: req.command,
        arguments: req.arguments,
        envs: req.envs,
        stdin: req.stdin,
        timeoutSec: seconds(req.timeout),
        captureSize: req.captureSize > 0xffffffffn ? 0xffffffff : Number(req.captureSize),
      });
    },
    kill(req) {
      svc.kill(req.containerId, req.signalNum);
      return {};
    },
    async inspect(req) {
      const list = await svc.inspect(req.containerId);
      return {
        info: list.map((i) => ({
          ...i,
          memoryLimit: BigInt(i.memoryLimit),
          pidsLimit: BigInt(i.pidsLimit),
          oomKills: BigInt(i.oomKills),
          pidsLimitHits: BigInt(i.pidsLimitHits),
          startedMs: BigInt(i.startedMs),
          exitedMs: BigInt(i.exitedMs),
        })),
      };
    },
    async *logs(req, hctx) {
      const chunks = streams.logs.hold(
        hctx.signal,
        () => svc.logs(req.containerId, req.fromStart, req.follow, hctx.signal),
      );
      for await (const ch of chunks) {
        yield { fd: ch.fd, data: ch.data, timeMs: BigInt(ch.timeMs) };
      }
    },
    async *watch(_req, hctx) {
      for await (const e of streams.watch.hold(hctx.signal, () => events.stream(hctx.signal))) {
        yield {
          kind: KINDS[e.kind],
          containerId: e.containerId ?? 0,
          imageId: e.imageId ?? "",
          wstatus: e.wstatus ?? 0,
          exitSignal: e.exitSignal ?? false,
          timeMs: BigInt(e.timeMs),
          count: BigInt(e.count ?? 0),
        };
      }
    },
  };
}
