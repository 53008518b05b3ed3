/**
 * The layout of TDX quotes (DCAP v4/v5 header and TD report body, anchors §3.6) and of the
 * simulator's quotes (docs/attestation.md): constants and the body a TDREPORT yields. Pure and
 * free of node:crypto, so that the simulator can build quotes at boot (./sim_quote.ts) without
 * loading it; parsing and verifying are ./quote.ts's.
 */
import { TDR, TDREPORT_SIZE } from "./tdreport.ts";

export const QUOTE_HEADER_SIZE = 48;
export const TD10_BODY_SIZE = 584;
export const TD15_BODY_SIZE = 648;
export const TDX_TEE_TYPE = 0x81;

/** Offsets inside a TD report body (TD 1.0; TD 1.5 appends TEE_TCB_SVN2 and MRSERVICETD). */
export const BODY = {
  teeTcbSvn: 0,
  mrSeam: 16,
  mrSignerSeam: 64,
  seamAttributes: 112,
  tdAttributes: 120,
  xfam: 128,
  mrTd: 136,
  mrConfigId: 184,
  mrOwner: 232,
  mrOwnerConfig: 280,
  rtmr0: 328,
  reportData: 520,
} as const;

const enc = new TextEncoder();
/** qe_vendor_id of our simulated quotes and of the mock kernel module's fake quotes. */
export const SIM_VENDOR_ID = enc.encode("ACOND-SIM-QUOTE!");
export const MOCK_VENDOR_ID = enc.encode("MOCK-TDX-QUOTE!!");
/** att_key_type of a simulated quote: no real attestation key type uses it. */
export const SIM_ATT_KEY_TYPE = 0xffff;
/** The tag opening a simulated quote's signature data. */
export const SIM_SIG_MAGIC = enc.encode("ACOND-SIM-SIG-01");
export const SIM_SIGNATURE_SIZE = 96; // ECDSA P-384, r || s
export const SIM_USER_DATA = enc.encode("acond simulated TEE\0"); // 20 bytes

/** The TD 1.0 quote body a TDREPORT yields (what the quoting enclave copies). */
export function bodyFromTdReport(r: Uint8Array): Uint8Array<ArrayBuffer> {
  if (r.length !== TDREPORT_SIZE) throw new Error("a TDREPORT is 1024 bytes");
  const b = new Uint8Array(TD10_BODY_SIZE);
  b.set(r.subarray(TDR.teeTcbSvn, TDR.teeTcbSvn + 16), BODY.teeTcbSvn);
  b.set(r.subarray(TDR.mrSeam, TDR.mrSeam + 48), BODY.mrSeam);
  b.set(r.subarray(TDR.mrSignerSeam, TDR.mrSignerSeam + 48), BODY.mrSignerSeam);
  b.set(r.subarray(TDR.seamAttributes, TDR.seamAttributes + 8), BODY.seamAttributes);
  // TD attributes .. RTMR3 are contiguous in both layouts (TDINFO 512..912, body 120..520).
  b.set(r.subarray(TDR.tdAttributes, TDR.rtmr0 + 4 * 48), BODY.tdAttributes);
  b.set(r.subarray(TDR.reportData, TDR.reportData + 64), BODY.reportData);
  return b;
}
