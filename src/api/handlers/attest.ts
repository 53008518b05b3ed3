/** Report and GetEventLog: thin decode → attest service → encode. */
import type { Context } from "../../context.ts";
import type { Handlers } from "../router.ts";
import { makeReport } from "../../attest/report.ts";
import { RTMR3 } from "../../attest/eventlog.ts";

export function attestHandlers(ctx: Context): Handlers {
  return {
    async report(req) {
      const r = await makeReport(ctx, {
        nonceLo: req.nonceLo,
        nonceHi: req.nonceHi,
        requestType: req.requestType,
      });
      return {
        data: r.data,
        mrlog: Object.fromEntries(r.mrlog.map((logs, i) => [i, { logs }])),
        attestationData: r.attestationData,
        tee: r.tee,
        simPublicKey: r.simPublicKey ?? new Uint8Array(),
        canMeasure: r.canMeasure,
        teeNote: r.teeNote,
      };
    },
    async getEventLog() {
      return await ctx.lock.run(async () => ({
        lines: [...ctx.eventLog.lines],
        rtmr3: await ctx.tee.readRtmr(RTMR3),
        tee: ctx.tee.kind,
      }));
    },
  };
}
