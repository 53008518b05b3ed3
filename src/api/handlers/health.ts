import type { Context } from "../../context.ts";
import { ACOND_VERSION, API_VERSION } from "../../version.ts";
import type { Handlers } from "../router.ts";

export function healthHandlers(ctx: Context): Handlers {
  return {
    health() {
      return {
        version: ACOND_VERSION,
        apiVersion: API_VERSION,
        tee: ctx.tee.kind,
        finalized: ctx.state.finalized,
        images: ctx.state.images.size,
        containers: ctx.state.containers.size,
        uptimeMs: BigInt(Date.now() - ctx.startedAt),
        minHash: ctx.opts.minHash,
        pid1: ctx.opts.pid1,
        canMeasure: ctx.tee.canMeasure,
        teeNote: ctx.tee.note,
      };
    },
  };
}
