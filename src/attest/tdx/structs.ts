/**
 * Byte layouts of the TDX guest kernel ABIs (anchors §3.1, §3.4; behaviour file §6.3). Pure and
 * golden-byte tested: ioctl request numbers, the GET_REPORT0 and EXTEND_RTMR structs, the legacy
 * GET_QUOTE buffer, and the QGS GET_QUOTE_REQ/RESP messages (also used over vsock).
 */
import { TDREPORT_SIZE } from "../tdreport.ts";

/** Linux _IOC for x86-64: dir(2) | size(14) | type(8) | nr(8). */
export function ioc(dir: "r" | "w" | "rw", type: string, nr: number, size: number): bigint {
  const d = dir === "rw" ? 3 : dir === "r" ? 2 : 1; // _IOC_WRITE = 1, _IOC_READ = 2
  if (size >= 1 << 14) throw new Error("ioctl size too large");
  return BigInt((((d << 14 | size) << 8 | type.charCodeAt(0)) << 8 | nr) >>> 0);
}

export const REPORT_REQ_SIZE = 64 + TDREPORT_SIZE;
export const EXTEND_REQ_SIZE = 49;
/** _IOWR('T', 1, struct tdx_report_req) = 0xC4405401 (upstream). */
export const TDX_CMD_GET_REPORT0 = ioc("rw", "T", 1, REPORT_REQ_SIZE);
/** _IOR('T', 3, struct tdx_extend_rtmr_req) = 0x80315403 (Intel downstream, what ACON used). */
export const TDX_CMD_EXTEND_RTMR = ioc("r", "T", 3, EXTEND_REQ_SIZE);
/** _IOW('T', 3, …) = 0x40315403 (the later "V3" draft); tried when the first is ENOTTY. */
export const TDX_CMD_EXTEND_RTMR_V3 = ioc("w", "T", 3, EXTEND_REQ_SIZE);
/** _IOR('T', 4, struct {u64 buf; u64 len}) = 0x80105404 (Intel downstream). */
export const TDX_CMD_GET_QUOTE = ioc("r", "T", 4, 16);

/** struct tdx_report_req { u8 reportdata[64]; u8 tdreport[1024]; } */
export function encodeReportReq(reportData: Uint8Array): Uint8Array<ArrayBuffer> {
  if (reportData.length !== 64) throw new Error("REPORTDATA must be 64 bytes");
  const b = new Uint8Array(REPORT_REQ_SIZE);
  b.set(reportData);
  return b;
}
export function decodeReportReq(b: Uint8Array): Uint8Array {
  if (b.length !== REPORT_REQ_SIZE) throw new Error("bad tdx_report_req size");
  return b.slice(64);
}

/** struct tdx_extend_rtmr_req { u8 data[48]; u8 index; } */
export function encodeExtendReq(index: number, digest: Uint8Array): Uint8Array<ArrayBuffer> {
  if (digest.length !== 48) throw new Error("an RTMR extend value is 48 bytes");
  if (!Number.isInteger(index) || index < 0 || index > 255) throw new Error("bad RTMR index");
  const b = new Uint8Array(EXTEND_REQ_SIZE);
  b.set(digest);
  b[48] = index;
  return b;
}

// ---- QGS messages (qgs_msg_lib): little-endian, 16-byte header ------------------------------
export const QGS_MSG_GET_QUOTE_REQ = 0;
export const QGS_MSG_GET_QUOTE_RESP = 1;
export const QGS_HEADER_SIZE = 16;
export const QGS_RESP_HEADER_SIZE = 24;

/** GET_QUOTE_REQ: header {u16 major=1, u16 minor=0, u32 type=0, u32 size, u32 error=0},
 * u32 report_size=1024, u32 id_list_size=0, the TDREPORT. 1048 bytes. */
export function encodeQgsQuoteReq(tdreport: Uint8Array): Uint8Array<ArrayBuffer> {
  if (tdreport.length !== TDREPORT_SIZE) throw new Error("a TDREPORT is 1024 bytes");
  const size = QGS_HEADER_SIZE + 8 + TDREPORT_SIZE;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 1, true);
  dv.setUint16(2, 0, true);
  dv.setUint32(4, QGS_MSG_GET_QUOTE_REQ, true);
  dv.setUint32(8, size, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, TDREPORT_SIZE, true);
  dv.setUint32(20, 0, true);
  b.set(tdreport, 24);
  return b;
}

/** Parses GET_QUOTE_RESP and returns the quote. The body is {u32 selected_id_size,
 * u32 quote_size, selected id, quote} (DCAP's order; ACON read the quote first, which only works
 * when no id is selected). */
export function decodeQgsQuoteResp(m: Uint8Array): Uint8Array {
  if (m.length < QGS_RESP_HEADER_SIZE) throw new Error("QGS response too short");
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  const major = dv.getUint16(0, true);
  const type = dv.getUint32(4, true);
  const size = dv.getUint32(8, true);
  const error = dv.getUint32(12, true);
  const idSize = dv.getUint32(16, true);
  const quoteSize = dv.getUint32(20, true);
  if (major !== 1) throw new Error(`QGS response major version ${major}`);
  if (type !== QGS_MSG_GET_QUOTE_RESP) throw new Error(`QGS response type ${type}`);
  if (error !== 0) throw new Error(`QGS error 0x${error.toString(16)}`);
  if (size !== m.length || size !== QGS_RESP_HEADER_SIZE + idSize + quoteSize) {
    throw new Error(`QGS response size ${size} does not match its contents (${m.length})`);
  }
  if (quoteSize === 0) throw new Error("QGS returned an empty quote");
  const start = QGS_RESP_HEADER_SIZE + idSize;
  return m.slice(start, start + quoteSize);
}

/** A GET_QUOTE_RESP (for tests and a fake QGS). */
export function encodeQgsQuoteResp(
  quote: Uint8Array,
  selectedId = new Uint8Array(),
): Uint8Array<ArrayBuffer> {
  const size = QGS_RESP_HEADER_SIZE + selectedId.length + quote.length;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 1, true);
  dv.setUint32(4, QGS_MSG_GET_QUOTE_RESP, true);
  dv.setUint32(8, size, true);
  dv.setUint32(16, selectedId.length, true);
  dv.setUint32(20, quote.length, true);
  b.set(selectedId, 24);
  b.set(quote, 24 + selectedId.length);
  return b;
}

// ---- The legacy GET_QUOTE ioctl buffer ------------------------------------------------------
export const QUOTE_BUF_SIZE = 0x4000;
/** u64 version, u64 status, u32 in_len, u32 out_len, then a 4-byte big-endian length. */
export const QUOTE_BUF_HEADER = 24;
export const QUOTE_STATUS_IN_FLIGHT = 0xffffffffffffffffn;
export const QUOTE_STATUS_UNAVAILABLE = 0x8000000000000001n;

export function encodeQuoteBuf(msg: Uint8Array): Uint8Array<ArrayBuffer> {
  if (msg.length > QUOTE_BUF_SIZE - QUOTE_BUF_HEADER - 4) throw new Error("QGS message too large");
  const b = new Uint8Array(QUOTE_BUF_SIZE);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, 1n, true);
  dv.setBigUint64(8, 0n, true);
  dv.setUint32(16, 4 + msg.length, true);
  dv.setUint32(20, 0, true);
  dv.setUint32(24, msg.length, false);
  b.set(msg, 28);
  return b;
}

/** The QGS response message inside a completed GET_QUOTE buffer. */
export function decodeQuoteBuf(b: Uint8Array): Uint8Array {
  if (b.length < QUOTE_BUF_HEADER + 4) throw new Error("quote buffer too short");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const status = dv.getBigUint64(8, true);
  const outLen = dv.getUint32(20, true);
  if (status === QUOTE_STATUS_IN_FLIGHT) throw new Error("GetQuote still in flight");
  if (status === QUOTE_STATUS_UNAVAILABLE) throw new Error("the quoting service is unavailable");
  if (status !== 0n) throw new Error(`GetQuote status 0x${status.toString(16)}`);
  if (outLen < 4 || QUOTE_BUF_HEADER + outLen > b.length) throw new Error(`bad out_len ${outLen}`);
  const len = dv.getUint32(24, false);
  if (len !== outLen - 4) throw new Error(`message length ${len} does not match out_len ${outLen}`);
  return b.slice(28, 28 + len);
}

/** The vsock framing to a host QGS: 4-byte big-endian length, then the message. */
export function frameBE(msg: Uint8Array): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(4 + msg.length);
  new DataView(b.buffer).setUint32(0, msg.length, false);
  b.set(msg, 4);
  return b;
}
