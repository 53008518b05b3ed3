/**
 * DCAP quote v4/v5 parsing (anchors §3.6) and the simulator's quote format (docs/attestation.md).
 * Pure: no I/O. The DCAP signature chain itself is not checked here (that needs Intel collateral);
 * the simulated quote's signature is.
 */
import { Buffer } from "node:buffer";
import { createPublicKey, verify } from "node:crypto";
import { TDREPORT_SIZE, type TdReportBody } from "./tdreport.ts";
import {
  BODY,
  bodyFromTdReport,
  MOCK_VENDOR_ID,
  QUOTE_HEADER_SIZE,
  SIM_ATT_KEY_TYPE,
  SIM_SIG_MAGIC,
  SIM_SIGNATURE_SIZE,
  SIM_VENDOR_ID,
  TD10_BODY_SIZE,
  TD15_BODY_SIZE,
  TDX_TEE_TYPE,
} from "./quote_layout.ts";

// The layout's names stay importable from here, where they were before quote_layout.ts.
export * from "./quote_layout.ts";

export type QuoteOrigin = "dcap" | "sim" | "mock";

export interface Quote {
  version: 4 | 5;
  attKeyType: number;
  teeType: number;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
  /** v5 body type: 2 = TD 1.0, 3 = TD 1.5 (v4 is always TD 1.0). */
  bodyType: number;
  body: TdReportBody;
  /** TD 1.5 bodies only: TEE_TCB_SVN2 (16 bytes) and MRSERVICETD (48 bytes). */
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
  /** The quote without the zero padding that followed it (QGS and configfs buffers carry some). */
  bytes: Uint8Array;
  /** How many trailing zero bytes were dropped. */
  padding: number;
  /** Bytes covered by the quote signature (header and body, without the signature data). */
  signed: Uint8Array;
  signatureData: Uint8Array;
  origin: QuoteOrigin;
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function parseBody(b: Uint8Array): TdReportBody {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const s = (off: number, len: number) => b.slice(off, off + len);
  return {
    teeTcbSvn: s(BODY.teeTcbSvn, 16),
    mrSeam: s(BODY.mrSeam, 48),
    mrSignerSeam: s(BODY.mrSignerSeam, 48),
    seamAttributes: s(BODY.seamAttributes, 8),
    tdAttributes: dv.getBigUint64(BODY.tdAttributes, true),
    xfam: dv.getBigUint64(BODY.xfam, true),
    mrTd: s(BODY.mrTd, 48),
    mrConfigId: s(BODY.mrConfigId, 48),
    mrOwner: s(BODY.mrOwner, 48),
    mrOwnerConfig: s(BODY.mrOwnerConfig, 48),
    rtmr: [0, 1, 2, 3].map((i) => s(BODY.rtmr0 + 48 * i, 48)),
    reportData: s(BODY.reportData, 64),
  };
}

/** Parses a DCAP v4 or v5 TDX quote (and recognises sim and mock quotes); throws when malformed. */
export function parseQuote(q: Uint8Array): Quote {
  if (q.length < QUOTE_HEADER_SIZE + 4) throw new Error(`quote too short (${q.length} bytes)`);
  const dv = new DataView(q.buffer, q.byteOffset, q.byteLength);
  const version = dv.getUint16(0, true);
  const attKeyType = dv.getUint16(2, true);
  const teeType = dv.getUint32(4, true);
  if (teeType !== TDX_TEE_TYPE) {
    throw new Error(`quote tee_type 0x${teeType.toString(16)} is not TDX`);
  }
  let bodyOff: number, bodySize: number, bodyType: number;
  if (version === 4) {
    bodyOff = QUOTE_HEADER_SIZE;
    bodySize = TD10_BODY_SIZE;
    bodyType = 2;
  } else if (version === 5) {
    if (q.length < 54) throw new Error(`quote too short (${q.length} bytes)`);
    bodyType = dv.getUint16(48, true);
    bodySize = dv.getUint32(50, true);
    bodyOff = 54;
    const want = bodyType === 2 ? TD10_BODY_SIZE : bodyType === 3 ? TD15_BODY_SIZE : -1;
    if (want < 0) throw new Error(`quote v5 body type ${bodyType} is not a TD report`);
    if (bodySize !== want) throw new Error(`quote v5 body size ${bodySize}, expected ${want}`);
  } else {
    throw new Error(`quote version ${version} is not 4 or 5`);
  }
  const sigLenOff = bodyOff + bodySize;
  if (q.length < sigLenOff + 4) throw new Error("quote truncated before the signature data");
  const sigLen = dv.getUint32(sigLenOff, true);
  const total = sigLenOff + 4 + sigLen;
  // Hardware buffers may be longer than the quote: what follows it must be zeros.
  if (q.length < total || q.subarray(total).some((x) => x !== 0)) {
    throw new Error(`quote is ${q.length} bytes, its header says ${total}`);
  }
  const qeVendorId = q.slice(12, 28);
  const origin: QuoteOrigin = eq(qeVendorId, SIM_VENDOR_ID)
    ? "sim"
    : eq(qeVendorId, MOCK_VENDOR_ID)
    ? "mock"
    : "dcap";
  const td15 = bodyType === 3
    ? {
      teeTcbSvn2: q.slice(bodyOff + TD10_BODY_SIZE, bodyOff + TD10_BODY_SIZE + 16),
      mrServiceTd: q.slice(bodyOff + TD10_BODY_SIZE + 16, bodyOff + TD15_BODY_SIZE),
    }
    : {};
  return {
    version,
    attKeyType,
    teeType,
    qeSvn: dv.getUint16(8, true),
    pceSvn: dv.getUint16(10, true),
    qeVendorId,
    userData: q.slice(28, 48),
    bodyType,
    body: parseBody(q.subarray(bodyOff, bodyOff + bodySize)),
    ...td15,
    bytes: q.slice(0, total),
    padding: q.length - total,
    signed: q.slice(0, sigLenOff),
    signatureData: q.slice(sigLenOff + 4, total),
    origin,
  };
}

/**
 * Checks a simulated quote against the simulator's public key (SPKI DER): the signature, the
 * magic, and that the body is the one the embedded TDREPORT yields. Returns the TDREPORT.
 */
export function verifySimQuote(q: Uint8Array, spki: Uint8Array): Uint8Array {
  const parsed = parseQuote(q);
  if (parsed.origin !== "sim" || parsed.attKeyType !== SIM_ATT_KEY_TYPE || parsed.version !== 4) {
    throw new Error("not a simulated quote");
  }
  const sd = parsed.signatureData;
  if (sd.length !== SIM_SIG_MAGIC.length + TDREPORT_SIZE + SIM_SIGNATURE_SIZE) {
    throw new Error("simulated quote: bad signature data size");
  }
  if (!eq(sd.subarray(0, SIM_SIG_MAGIC.length), SIM_SIG_MAGIC)) {
    throw new Error("simulated quote: bad signature magic");
  }
  const tdreport = sd.slice(SIM_SIG_MAGIC.length, SIM_SIG_MAGIC.length + TDREPORT_SIZE);
  const signedLen = q.length - SIM_SIGNATURE_SIZE;
  const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  const ok = verify(
    "sha384",
    q.subarray(0, signedLen),
    { key, dsaEncoding: "ieee-p1363" },
    q.subarray(signedLen),
  );
  if (!ok) throw new Error("simulated quote: the signature does not verify with the given key");
  const body = q.subarray(QUOTE_HEADER_SIZE, QUOTE_HEADER_SIZE + TD10_BODY_SIZE);
  if (!eq(body, bodyFromTdReport(tdreport))) {
    throw new Error("simulated quote: the body does not match the embedded TDREPORT");
  }
  return tdreport;
}
