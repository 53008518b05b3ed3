/**
 * The simulator's quotes, made: its per-boot ECDSA P-384 signing key and the signed simulated
 * quote (format: ./quote_layout.ts, docs/attestation.md; checked by ./quote.ts's verifySimQuote).
 * Through WebCrypto, not node:crypto: the TLS identity asks for a quote at every boot
 * (attest/ratls/identity.ts), and loading node:crypto cost about 0.4 s of it under emulation
 * (docs/boot.md).
 */
import { TDREPORT_SIZE } from "./tdreport.ts";
import {
  bodyFromTdReport,
  QUOTE_HEADER_SIZE,
  SIM_ATT_KEY_TYPE,
  SIM_SIG_MAGIC,
  SIM_SIGNATURE_SIZE,
  SIM_USER_DATA,
  SIM_VENDOR_ID,
  TD10_BODY_SIZE,
  TDX_TEE_TYPE,
} from "./quote_layout.ts";

/** The simulator's signing key: an ECDSA P-384 private key and its public key as SPKI DER. */
export interface SimKey {
  key: CryptoKey;
  spki: Uint8Array;
}

const ALG = { name: "ECDSA", namedCurve: "P-384" } as const;

/** A new key (WebCrypto); the private half cannot be exported. */
export async function newSimKey(): Promise<SimKey> {
  const pair = await crypto.subtle.generateKey(ALG, false, ["sign", "verify"]);
  return {
    key: pair.privateKey,
    spki: new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey)),
  };
}

/**
 * A simulated quote: a v4-shaped header (att_key_type 0xFFFF, qe_vendor_id "ACOND-SIM-QUOTE!"),
 * the TD 1.0 body from the TDREPORT, then signature data = magic ‖ TDREPORT ‖ ECDSA-P384-SHA384
 * signature (r‖s) over every byte before the signature.
 */
export async function buildSimQuote(
  tdreport: Uint8Array,
  key: CryptoKey,
): Promise<Uint8Array<ArrayBuffer>> {
  const sigDataLen = SIM_SIG_MAGIC.length + TDREPORT_SIZE + SIM_SIGNATURE_SIZE;
  const total = QUOTE_HEADER_SIZE + TD10_BODY_SIZE + 4 + sigDataLen;
  const q = new Uint8Array(total);
  const dv = new DataView(q.buffer);
  dv.setUint16(0, 4, true);
  dv.setUint16(2, SIM_ATT_KEY_TYPE, true);
  dv.setUint32(4, TDX_TEE_TYPE, true);
  q.set(SIM_VENDOR_ID, 12);
  q.set(SIM_USER_DATA, 28);
  q.set(bodyFromTdReport(tdreport), QUOTE_HEADER_SIZE);
  let off = QUOTE_HEADER_SIZE + TD10_BODY_SIZE;
  dv.setUint32(off, sigDataLen, true);
  off += 4;
  q.set(SIM_SIG_MAGIC, off);
  off += SIM_SIG_MAGIC.length;
  q.set(tdreport, off);
  off += TDREPORT_SIZE;
  // WebCrypto's ECDSA signature is r ‖ s (IEEE P1363), as the format wants.
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, key, q.slice(0, off));
  if (sig.byteLength !== SIM_SIGNATURE_SIZE) throw new Error("unexpected ECDSA signature size");
  q.set(new Uint8Array(sig), off);
  return q;
}
