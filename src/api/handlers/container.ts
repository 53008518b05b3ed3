/** Container RPCs: decode, call the container service, encode (src/container/service.ts). */
import type { Context } from "../../context.ts";
import { containerService } from "../../container/service.ts";
import type { Handlers } from "../router.ts";

/** uint64 seconds from the wire, clamped to what a timer can hold. */
function seconds(v: bigint): number {
  return v > 1_000_000n ? 1_000_000 : Number(v);
}

export function containerHandlers(ctx: Context): Handlers {
  const svc = () => containerService(ctx);
  return {
    async start(req) {
      return { containerId: await svc().start(req.imageId, req.envs) };
    },
    async restart(req) {
      await svc().restart(req.containerId, seconds(req.timeout));
      return {};
    },
    async exec(req) {
      return await svc().exec({
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
      svc().kill(req.containerId, req.signalNum);
      return {};
    },
    async inspect(req) {
      const s = svc();
      const list = await s.inspect(req.containerId);
      return { info: await Promise.all(list.map((c) => s.info(c))) };
    },
    async *logs(req, hctx) {
      for await (const ch of svc().logs(req.containerId, req.fromStart, req.follow, hctx.signal)) {
        yield { fd: ch.fd, data: ch.data, timeMs: BigInt(ch.timeMs) };
      }
    },
    async *watch(_req, hctx) {
      for await (const e of ctx.events.stream(hctx.signal)) {
        yield {
          kind: e.kind,
          containerId: e.containerId ?? 0,
          imageId: e.imageId ?? "",
          wstatus: e.wstatus ?? 0,
          exitSignal: e.exitSignal ?? false,
          timeMs: BigInt(e.timeMs),
        };
      }
    },
  };
}
