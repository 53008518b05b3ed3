/**
 * The Report operation (behaviour file §6.3): mrlog, attestation JSON, REPORTDATA, then a
 * TDREPORT (request type 0) or a quote (1). Runs under the state lock so the log, the JSON and
 * the RTMR3 inside the report describe the same moment. GetEventLog (eventLogSnapshot) likewise.
 */
import type { Tee, TeeKind } from "./tee.ts";
import type { EventLog } from "./eventlog.ts";
import { RTMR3 } from "./replay.ts";
import type { PodState } from "../state.ts";
import type { Mutex } from "../util/mutex.ts";
import type { AttestData } from "../state.ts";
import {
  attestationJson,
  type AttestedContainer,
  nonceBytes,
  reportDataFor,
} from "./attestation.ts";
import { AcondError, MSG, withContext } from "../errors.ts";
import { encodeTcgLog } from "./tcg_log.ts";
import { type Ccel, readCcel } from "./ccel.ts";

export const REQUEST_TDREPORT = 0;
export const REQUEST_QUOTE = 1;

export interface ReportDeps {
  tee: Tee;
  eventLog: EventLog;
  state: PodState;
  lock: Mutex;
}

export interface ReportInput {
  nonceLo: bigint;
  nonceHi: bigint;
  requestType: number;
  /** The container-socket caller's data, used for this report only (not stored). */
  override?: { containerId: number; data: AttestData };
}

export interface ReportOutput {
  data: Uint8Array;
  /** RTMR0..3 logs; only RTMR3 has one (acond's event log). */
  mrlog: string[][];
  attestationData: string;
  tee: TeeKind;
  canMeasure: boolean;
  teeNote: string;
  simPublicKey?: Uint8Array;
}

export function makeReport(deps: ReportDeps, input: ReportInput): Promise<ReportOutput> {
  return deps.lock.run(async () => {
    const mrlog = [[], [], [], [...deps.eventLog.lines]];
    const containers: AttestedContainer[] = [...deps.state.containers.values()].map((c) => ({
      id: c.id,
      imageId: c.imageId,
      attestData: input.override?.containerId === c.id ? input.override.data : c.attestData,
    }));
    const attestationData = attestationJson({
      requestorNonce: nonceBytes(input.nonceLo, input.nonceHi),
      acondNonce: crypto.getRandomValues(new Uint8Array(16)),
      imageIds: deps.state.images.keys(),
      containers,
    });
    const reportData = reportDataFor(attestationData);
    let data: Uint8Array;
    if (input.requestType === REQUEST_TDREPORT) {
      data = await withContext("read TDREPORT", () => deps.tee.report(reportData));
    } else if (input.requestType === REQUEST_QUOTE) {
      data = await withContext("get quote", () => deps.tee.quote(reportData));
    } else throw new AcondError("invalid_argument", MSG.badRequestType);
    return {
      data,
      mrlog,
      attestationData,
      tee: deps.tee.kind,
      canMeasure: deps.tee.canMeasure,
      teeNote: deps.tee.note,
      simPublicKey: deps.tee.simPublicKey,
    };
  });
}

export interface EventLogSnapshot {
  lines: string[];
  rtmr3: Uint8Array;
  tee: TeeKind;
  /** The same lines as TCG2 crypto-agile records (tcg_log.ts). */
  tcgLog: Uint8Array;
  /** The firmware's CCEL, when this machine has one. */
  ccel: Ccel | null;
}

/**
 * GetEventLog: the event log's lines and RTMR3, read under the state lock so that they describe
 * the same moment (a verifier replays the lines and compares).
 */
export function eventLogSnapshot(
  deps: Pick<ReportDeps, "tee" | "eventLog" | "lock">,
  acpiTables?: string,
): Promise<EventLogSnapshot> {
  return deps.lock.run(async () => {
    const lines = [...deps.eventLog.lines];
    return {
      lines,
      rtmr3: await withContext("read RTMR3", () => deps.tee.readRtmr(RTMR3)),
      tee: deps.tee.kind,
      tcgLog: encodeTcgLog(lines),
      // Firmware-written, unchanging: read each time (no state to keep), bounded in size.
      ccel: await withContext("read the firmware's CCEL", () => readCcel(acpiTables)),
    };
  });
}
