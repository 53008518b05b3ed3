/**
 * TDREPORT (TDX module TDREPORT_STRUCT, 1024 bytes) layout and parser. Offsets: anchors §3.5,
 * matching the upstream kernel's TDREPORT_* enum. Pure: no I/O.
 */
export const TDREPORT_SIZE = 1024;

export const TDR = {
  reportType: 0, // u8 type (0x81 = TDX), subtype, version, reserved
  cpuSvn: 16, // 16
  teeTcbInfoHash: 32, // 48
  teeInfoHash: 80, // 48
  reportData: 128, // 64
  mac: 224, // 32
  teeTcbInfo: 256, // 239
  teeTcbInfoSize: 239,
  tcbValid: 256, // 8
  teeTcbSvn: 264, // 16
  mrSeam: 280, // 48
  mrSignerSeam: 328, // 48
  seamAttributes: 376, // 8
  tdInfo: 512, // 512
  tdAttributes: 512, // 8
  xfam: 520, // 8
  mrTd: 528,
  mrConfigId: 576,
  mrOwner: 624,
  mrOwnerConfig: 672,
  rtmr0: 720, // RTMRn at 720 + 48n
  servTdHash: 912,
} as const;

export const TDX_REPORT_TYPE = 0x81;
/** TD ATTRIBUTES bit 0: the TD is debuggable (its memory and state are visible to the host). */
export const TD_ATTR_DEBUG = 1n;

export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: bigint;
  xfam: bigint;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr: Uint8Array[];
  reportData: Uint8Array;
}

export interface TdReport extends TdReportBody {
  reportType: number;
  teeInfoHash: Uint8Array;
  teeTcbInfoHash: Uint8Array;
}

function u64le(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}

/** Parses a TDREPORT; throws on a wrong size or report type. */
export function parseTdReport(r: Uint8Array): TdReport {
  if (r.length !== TDREPORT_SIZE) {
    throw new Error(`a TDREPORT is ${TDREPORT_SIZE} bytes, got ${r.length}`);
  }
  if (r[TDR.reportType] !== TDX_REPORT_TYPE) {
    throw new Error(`TDREPORT type is 0x${r[0].toString(16)}, expected 0x81`);
  }
  const s = (off: number, len: number) => r.slice(off, off + len);
  return {
    reportType: r[0],
    teeTcbInfoHash: s(TDR.teeTcbInfoHash, 48),
    teeInfoHash: s(TDR.teeInfoHash, 48),
    teeTcbSvn: s(TDR.teeTcbSvn, 16),
    mrSeam: s(TDR.mrSeam, 48),
    mrSignerSeam: s(TDR.mrSignerSeam, 48),
    seamAttributes: s(TDR.seamAttributes, 8),
    tdAttributes: u64le(r, TDR.tdAttributes),
    xfam: u64le(r, TDR.xfam),
    mrTd: s(TDR.mrTd, 48),
    mrConfigId: s(TDR.mrConfigId, 48),
    mrOwner: s(TDR.mrOwner, 48),
    mrOwnerConfig: s(TDR.mrOwnerConfig, 48),
    rtmr: [0, 1, 2, 3].map((i) => s(TDR.rtmr0 + 48 * i, 48)),
    reportData: s(TDR.reportData, 64),
  };
}
