/** The TEE a report and a measurement come from. Backends: sim (software) and tdx (kernel ABI). */
export type TeeKind = "tdx" | "sim";

export interface Tee {
  readonly kind: TeeKind;
  /** False when this TEE cannot extend RTMR3 (e.g. a TD on a kernel before 6.16). */
  readonly canMeasure: boolean;
  /** Human-readable state: which device or interface is used, or why measuring is impossible. */
  readonly note: string;
  /** sim only: SPKI DER of the per-boot key that signs simulated quotes. */
  readonly simPublicKey?: Uint8Array;
  /** RTMR[index] = sha384(RTMR[index] || digest); digest is 48 bytes. */
  extendRtmr(index: number, digest: Uint8Array): Promise<void>;
  /** The current value of RTMR[index] (48 bytes). */
  readRtmr(index: number): Promise<Uint8Array>;
  /** A 1024-byte TDREPORT whose REPORTDATA is reportData (64 bytes). */
  report(reportData: Uint8Array): Promise<Uint8Array>;
  /** A quote over a fresh TDREPORT with this REPORTDATA. */
  quote(reportData: Uint8Array): Promise<Uint8Array>;
}
