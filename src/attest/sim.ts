/**
 * Software TEE: four RTMRs extended as hardware does, and a TDREPORT-shaped 1024-byte report
 * with REPORTDATA at 128 and RTMR0..3 at 720/768/816/864. Recognisable as a simulation.
 */
import { digest } from "./sha.ts";
import type { Tee } from "./tee.ts";
import { AcondError, MSG } from "../errors.ts";

export const TDREPORT_SIZE = 1024;
export const REPORTDATA_OFFSET = 128;
export const RTMR_OFFSET = 720;

export class SimTee implements Tee {
  readonly kind = "sim" as const;
  readonly canMeasure = true;
  readonly note = "software simulation: reports are not signed by TDX hardware";
  readonly rtmrs: Uint8Array[] = [0, 1, 2, 3].map(() => new Uint8Array(48));

  extendRtmr(index: number, value: Uint8Array): Promise<void> {
    if (index < 0 || index > 3 || value.length !== 48) {
      throw new AcondError("internal", `bad RTMR extend: index ${index}, ${value.length} bytes`);
    }
    const joined = new Uint8Array(96);
    joined.set(this.rtmrs[index]);
    joined.set(value, 48);
    this.rtmrs[index] = digest("sha384", joined);
    return Promise.resolve();
  }

  report(reportData: Uint8Array): Promise<Uint8Array> {
    if (reportData.length !== 64) throw new AcondError("internal", "REPORTDATA must be 64 bytes");
    const r = new Uint8Array(TDREPORT_SIZE);
    r.set(reportData, REPORTDATA_OFFSET);
    for (let i = 0; i < 4; i++) r.set(this.rtmrs[i], RTMR_OFFSET + 48 * i);
    return Promise.resolve(r);
  }

  quote(_reportData: Uint8Array): Promise<Uint8Array> {
    return Promise.reject(new AcondError("failed_precondition", MSG.attestationNotSupported));
  }
}
