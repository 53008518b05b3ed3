/**
 * Software TEE: four RTMRs extended as hardware does (sha384(old ‖ value)), a 1024-byte
 * TDREPORT with the real offsets whose TDINFO/TEE_TCB_INFO carry recognisable ASCII simulator
 * values, and simulated quotes signed with a per-boot ECDSA P-384 key (see quote.ts).
 *
 * On the boot path (the daemon creates it and measures the boot event, the TLS identity asks for
 * a quote): nothing here may load node:crypto, which costs seconds under emulation. The signing
 * key and the quote code (./sim_quote.ts, WebCrypto) are loaded on the first report or quote.
 */
import { sha384, sha384Native } from "../digest_boot.ts";
import type { Tee } from "./tee.ts";
import { AcondError } from "../errors.ts";
import { TDR, TDREPORT_SIZE, TDX_REPORT_TYPE } from "./tdreport.ts";
import type { SimKey } from "./sim_quote.ts";
import { SIM_VALUES } from "./sim_values.ts";

export { TDREPORT_SIZE };
export { SIM_VALUES };

export class SimTee implements Tee {
  readonly kind = "sim" as const;
  readonly canMeasure = true;
  readonly note: string;
  readonly rtmrs: Uint8Array[] = [0, 1, 2, 3].map(() => new Uint8Array(48));
  /** SPKI DER of the signing key: set by the first report or quote (or publicKey()). */
  simPublicKey: Uint8Array | undefined;
  // Plain properties, not #private: tests wrap a SimTee with Object.create to slow it down.
  private signingKey: Promise<SimKey> | null = null;
  private extending: Promise<void> = Promise.resolve();

  /** MRCONFIGID of the simulated TD (zero unless set: dev --sim-mrconfigid, acond.sim_mrconfigid). */
  readonly mrConfigId: Uint8Array = new Uint8Array(48);

  /** why: how the simulator came to be chosen ("requested", "auto: …"), for the note. */
  constructor(why = "requested", mrConfigId?: Uint8Array) {
    this.note = `software simulation (${why}): reports and quotes are not from TDX hardware`;
    if (mrConfigId) {
      if (mrConfigId.length > 48) throw new AcondError("internal", "MRCONFIGID is 48 bytes");
      this.mrConfigId.set(mrConfigId);
    }
  }

  /** The signing key's SPKI DER, generating the key if no report or quote has yet. */
  async publicKey(): Promise<Uint8Array> {
    return (await this.key()).spki;
  }

  /** The per-instance key, made once (a failed attempt is retried on the next call). */
  private key(): Promise<SimKey> {
    this.signingKey ??= import("./sim_quote.ts").then(async (q) => {
      const k = await q.newSimKey();
      this.simPublicKey = k.spki;
      return k;
    }).catch((e) => {
      this.signingKey = null;
      throw e;
    });
    return this.signingKey;
  }

  extendRtmr(index: number, value: Uint8Array): Promise<void> {
    if (!Number.isInteger(index) || index < 0 || index > 3 || value.length !== 48) {
      return Promise.reject(
        new AcondError("internal", `bad RTMR extend: index ${index}, ${value.length} bytes`),
      );
    }
    const v = value.slice();
    // One extend at a time, each reading the value the previous one wrote (as the hardware).
    const done = this.extending.then(async () => {
      const joined = new Uint8Array(96);
      joined.set(this.rtmrs[index]);
      joined.set(v, 48);
      this.rtmrs[index] = await sha384Native(joined);
    });
    this.extending = done.catch(() => {});
    return done;
  }

  readRtmr(index: number): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index > 3) {
      return Promise.reject(new AcondError("internal", `bad RTMR index ${index}`));
    }
    return this.extending.then(() => this.rtmrs[index].slice()); // after extends in flight
  }

  /** Synchronous TDREPORT builder (the hardware's TDG.MR.REPORT, minus the MAC). */
  buildReport(reportData: Uint8Array): Uint8Array<ArrayBuffer> {
    if (reportData.length !== 64) throw new AcondError("internal", "REPORTDATA must be 64 bytes");
    const r = new Uint8Array(TDREPORT_SIZE);
    const dv = new DataView(r.buffer);
    r[TDR.reportType] = TDX_REPORT_TYPE;
    r.set(SIM_VALUES.cpuSvn, TDR.cpuSvn);
    r.set(reportData, TDR.reportData);
    r.set(SIM_VALUES.mac, TDR.mac);
    dv.setBigUint64(TDR.tcbValid, 0xffffn, true);
    r.set(SIM_VALUES.teeTcbSvn, TDR.teeTcbSvn);
    r.set(SIM_VALUES.mrSeam, TDR.mrSeam);
    r.set(SIM_VALUES.mrSignerSeam, TDR.mrSignerSeam);
    dv.setBigUint64(TDR.tdAttributes, SIM_VALUES.tdAttributes, true);
    dv.setBigUint64(TDR.xfam, SIM_VALUES.xfam, true);
    r.set(SIM_VALUES.mrTd, TDR.mrTd);
    r.set(this.mrConfigId, TDR.mrConfigId);
    for (let i = 0; i < 4; i++) r.set(this.rtmrs[i], TDR.rtmr0 + 48 * i);
    // As the TDX module does: the report MAC struct carries hashes of the two info structs.
    r.set(
      sha384(r.subarray(TDR.teeTcbInfo, TDR.teeTcbInfo + TDR.teeTcbInfoSize)),
      TDR.teeTcbInfoHash,
    );
    r.set(sha384(r.subarray(TDR.tdInfo, TDREPORT_SIZE)), TDR.teeInfoHash);
    return r;
  }

  /** A TDREPORT; also makes the signing key, so that every report carries simPublicKey. */
  async report(reportData: Uint8Array): Promise<Uint8Array> {
    await this.extending;
    const r = this.buildReport(reportData);
    await this.key();
    return r;
  }

  async quote(reportData: Uint8Array): Promise<Uint8Array> {
    await this.extending;
    const r = this.buildReport(reportData);
    const [{ buildSimQuote }, { key }] = await Promise.all([
      import("./sim_quote.ts"),
      this.key(),
    ]);
    return await buildSimQuote(r, key);
  }
}
