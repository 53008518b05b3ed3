/** Report and GetEventLog: thin decode → attest service → encode. */
import type { Context } from "../../context.ts";
import type { Handlers } from "../router.ts";
import { eventLogSnapshot, makeReport } from "../../attest/report.ts";

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
      const r = await eventLogSnapshot(ctx, ctx.opts.acpiTables);
      return {
        lines: r.lines,
        rtmr3: r.rtmr3,
        tee: r.tee,
        tcgLog: r.tcgLog,
        ...(r.ccel ? { ccel: r.ccel.data, ccelTable: r.ccel.table } : {}),
      };
    },
  };
}
