/**
 * The container-facing protocol of `/shared/acon.sock` (behaviour file §6.4; ACON's
 * sdk/include/acon_client.h), native little-endian C structs. Pure and strict: every length is
 * checked before it is used (ACON panicked, killing PID 1, on short messages), the data bytes must
 * be UTF-8, and every refusal is a framed error struct (ACON answered a bare, unframeable text).
 *
 *   header (8):            i32 command, u32 size (the whole message, 8..1 MiB)
 *   error (-1, 12+):       header, i32 request command, UTF-8 message
 *   get_report_req (0, 40+): header, u32 request_type, 4 pad, u64 nonce[2], i32 attest_data_type,
 *                          4 pad, data
 *   get_report_rsp (1, 20+): header, i32 rtmr_log_offset, i32 attestation_json_offset,
 *                          i32 data_offset, then: NUL NUL NUL (RTMR0-2 logs), each RTMR3 line
 *                          + NUL, the JSON, the TDREPORT or quote
 *   set_attestation_data_req (2, 12+): header, i32 attest_data_type, data
 *   set_attestation_data_rsp (3, 8): header
 */
import { MSG } from "../errors.ts";
import type { AttestData } from "../state.ts";

export const CMD_ERROR = -1;
export const CMD_GET_REPORT = 0;
export const CMD_GET_REPORT_RSP = 1;
export const CMD_SET_DATA = 2;
export const CMD_SET_DATA_RSP = 3;

export const HEADER_SIZE = 8;
export const MAX_MESSAGE = 0x100000;
export const GET_REPORT_REQ_SIZE = 40;
export const GET_REPORT_RSP_SIZE = 20;
export const SET_DATA_REQ_SIZE = 12;
export const ERROR_SIZE = 12;
/** attest_data_type: 0 none, 1 binary, 2 string (binary is cut at NUL like ACON: text only). */
export const MAX_ATTEST_TYPE = 2;

export class IpcError extends Error {
  /** The command of the request being refused (-1 when even the header was unusable). */
  readonly request: number;
  constructor(request: number, message: string) {
    super(message);
    this.request = request;
  }
}

export interface Header {
  command: number;
  size: number;
}

export type IpcRequest =
  | {
    kind: "get_report";
    requestType: number;
    nonceLo: bigint;
    nonceHi: bigint;
    attestData: AttestData;
  }
  | { kind: "set_data"; attestData: AttestData };

const utf8 = new TextDecoder("utf-8", { fatal: true });
const enc = new TextEncoder();

/** Validates a header (the first 8 bytes). */
export function decodeHeader(b: Uint8Array): Header {
  if (b.length < HEADER_SIZE) throw new IpcError(-1, MSG.badStructure);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const command = dv.getInt32(0, true);
  const size = dv.getUint32(4, true);
  if (size < HEADER_SIZE || size > MAX_MESSAGE) throw new IpcError(command, MSG.badStructure);
  return { command, size };
}

function attestData(command: number, type: number, bytes: Uint8Array): AttestData {
  if (type < 0 || type > MAX_ATTEST_TYPE) throw new IpcError(command, MSG.badStructure);
  // As ACON: the data ends at the first NUL (a C string); it must be valid UTF-8.
  const nul = bytes.indexOf(0);
  const text = nul >= 0 ? bytes.subarray(0, nul) : bytes;
  try {
    return { type, data: utf8.decode(text) };
  } catch {
    throw new IpcError(command, MSG.badStructure);
  }
}

/** Decodes one complete request message (exactly `size` bytes). */
export function decodeRequest(m: Uint8Array): IpcRequest {
  const h = decodeHeader(m);
  if (m.length !== h.size) throw new IpcError(h.command, MSG.badStructure);
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  switch (h.command) {
    case CMD_GET_REPORT: {
      if (h.size < GET_REPORT_REQ_SIZE) throw new IpcError(h.command, MSG.badStructure);
      const requestType = dv.getUint32(8, true);
      // ACON maps nonce[0] to hi and nonce[1] to lo (so requestor_nonce = LE(n[1]) ‖ LE(n[0])).
      const nonceHi = dv.getBigUint64(16, true);
      const nonceLo = dv.getBigUint64(24, true);
      const type = dv.getInt32(32, true);
      return {
        kind: "get_report",
        requestType,
        nonceLo,
        nonceHi,
        attestData: attestData(h.command, type, m.subarray(GET_REPORT_REQ_SIZE)),
      };
    }
    case CMD_SET_DATA: {
      if (h.size < SET_DATA_REQ_SIZE) throw new IpcError(h.command, MSG.badStructure);
      const type = dv.getInt32(8, true);
      return {
        kind: "set_data",
        attestData: attestData(h.command, type, m.subarray(SET_DATA_REQ_SIZE)),
      };
    }
    default:
      throw new IpcError(h.command, MSG.notSupported);
  }
}

export function encodeError(request: number, message: string): Uint8Array<ArrayBuffer> {
  const text = enc.encode(message);
  const b = new Uint8Array(ERROR_SIZE + text.length);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, CMD_ERROR, true);
  dv.setUint32(4, b.length, true);
  dv.setInt32(8, request, true);
  b.set(text, ERROR_SIZE);
  return b;
}

export function encodeSetDataRsp(): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(HEADER_SIZE);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, CMD_SET_DATA_RSP, true);
  dv.setUint32(4, HEADER_SIZE, true);
  return b;
}

export function encodeGetReportRsp(
  rtmr3Log: readonly string[],
  json: string,
  data: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const logBytes = enc.encode("\0\0\0" + rtmr3Log.map((l) => l + "\0").join(""));
  const jsonBytes = enc.encode(json);
  const size = GET_REPORT_RSP_SIZE + logBytes.length + jsonBytes.length + data.length;
  if (size > MAX_MESSAGE) throw new IpcError(CMD_GET_REPORT, "Report too large");
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  const jsonOff = GET_REPORT_RSP_SIZE + logBytes.length;
  const dataOff = jsonOff + jsonBytes.length;
  dv.setInt32(0, CMD_GET_REPORT_RSP, true);
  dv.setUint32(4, size, true);
  dv.setInt32(8, GET_REPORT_RSP_SIZE, true);
  dv.setInt32(12, jsonOff, true);
  dv.setInt32(16, dataOff, true);
  b.set(logBytes, GET_REPORT_RSP_SIZE);
  b.set(jsonBytes, jsonOff);
  b.set(data, dataOff);
  return b;
}

// ---- Client side (containers, tests): what sdk/acon_client.h does ---------------------------

export function encodeGetReportReq(
  requestType: number,
  nonceLo: bigint,
  nonceHi: bigint,
  type: number,
  data: string | Uint8Array,
): Uint8Array<ArrayBuffer> {
  const d = typeof data === "string" ? enc.encode(data) : data;
  const b = new Uint8Array(GET_REPORT_REQ_SIZE + d.length);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, CMD_GET_REPORT, true);
  dv.setUint32(4, b.length, true);
  dv.setUint32(8, requestType, true);
  dv.setBigUint64(16, nonceHi, true);
  dv.setBigUint64(24, nonceLo, true);
  dv.setInt32(32, type, true);
  b.set(d, GET_REPORT_REQ_SIZE);
  return b;
}

export function encodeSetDataReq(type: number, data: string | Uint8Array): Uint8Array<ArrayBuffer> {
  const d = typeof data === "string" ? enc.encode(data) : data;
  const b = new Uint8Array(SET_DATA_REQ_SIZE + d.length);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, CMD_SET_DATA, true);
  dv.setUint32(4, b.length, true);
  dv.setInt32(8, type, true);
  b.set(d, SET_DATA_REQ_SIZE);
  return b;
}

export type IpcResponse =
  | { kind: "error"; request: number; message: string }
  | { kind: "set_data_ok" }
  | { kind: "report"; rtmr3Log: string[]; json: string; data: Uint8Array };

/** Decodes a response, checking every offset (what a careful client does). */
export function decodeResponse(m: Uint8Array): IpcResponse {
  const h = decodeHeader(m);
  if (h.size !== m.length) throw new Error("response size does not match its header");
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  if (h.command === CMD_ERROR) {
    if (h.size < ERROR_SIZE) throw new Error("short error response");
    return {
      kind: "error",
      request: dv.getInt32(8, true),
      message: utf8.decode(m.subarray(ERROR_SIZE)),
    };
  }
  if (h.command === CMD_SET_DATA_RSP && h.size === HEADER_SIZE) return { kind: "set_data_ok" };
  if (h.command === CMD_GET_REPORT_RSP && h.size >= GET_REPORT_RSP_SIZE) {
    const logOff = dv.getInt32(8, true);
    const jsonOff = dv.getInt32(12, true);
    const dataOff = dv.getInt32(16, true);
    if (
      logOff !== GET_REPORT_RSP_SIZE || jsonOff < logOff + 3 || dataOff < jsonOff ||
      dataOff > h.size
    ) throw new Error("bad offsets in the report response");
    const log = utf8.decode(m.subarray(logOff + 3, jsonOff)).split("\0");
    if (log.pop() !== "") throw new Error("the RTMR log is not NUL-terminated");
    return {
      kind: "report",
      rtmr3Log: log,
      json: utf8.decode(m.subarray(jsonOff, dataOff)),
      data: m.slice(dataOff),
    };
  }
  throw new Error(`unexpected response command ${h.command}`);
}
