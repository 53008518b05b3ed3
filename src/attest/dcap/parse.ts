/**
 * Reading a DCAP quote as a verifier receives it (binary or hex, possibly zero-padded) and
 * spelling out its fields. Decoding itself is src/attest/quote.ts (our own, also used for
 * simulated quotes); this adds the input forms and readable names. Pure: no I/O.
 */
import { parseQuote, type Quote } from "../quote.ts";
import { toHex } from "../../digest_boot.ts";

/** Intel's quoting enclave vendor ID (the QE of Intel's DCAP stack). */
export const INTEL_QE_VENDOR_ID = "939a7233f79c4ca9940a0db3957f0607";

/**
 * The bytes of a quote file: hex text (optionally `0x`-prefixed, whitespace allowed) or binary.
 * Throws when text looks like hex but does not decode.
 */
export function quoteBytesFromFile(b: Uint8Array): Uint8Array {
  const text = new TextDecoder("latin1").decode(b.subarray(0, Math.min(b.length, 4096)));
  if (!/^\s*(0x)?[0-9a-fA-F\s]+$/.test(text) || b.length < 2) return b;
  let h = new TextDecoder().decode(b).replace(/\s+/g, "");
  if (/^0x/i.test(h)) h = h.slice(2);
  if (!/^[0-9a-fA-F]*$/.test(h) || h.length % 2 !== 0) {
    throw new Error("the quote file looks like hex but is not an even number of hex digits");
  }
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** TD ATTRIBUTES bits (TDX module ABI): the ones a verifier cares about, by name. */
export const TD_ATTR = {
  debug: 0n, // TUD.DEBUG: the host can read and change the TD's memory and state
  septVeDisable: 28n,
  pks: 30n,
  kl: 31n,
  perfmon: 63n,
} as const;

export interface TdAttributes {
  hex: string;
  debug: boolean;
  septVeDisable: boolean;
  pks: boolean;
  kl: boolean;
  perfmon: boolean;
  /** Other bits that are set (numbers), all reserved or unnamed here. */
  otherBits: number[];
}

export function tdAttributes(v: bigint): TdAttributes {
  const bit = (n: bigint) => ((v >> n) & 1n) === 1n;
  const named = new Set(Object.values(TD_ATTR).map(Number));
  const otherBits: number[] = [];
  for (let i = 0; i < 64; i++) if (bit(BigInt(i)) && !named.has(i)) otherBits.push(i);
  return {
    hex: v.toString(16).padStart(16, "0"),
    debug: bit(TD_ATTR.debug),
    septVeDisable: bit(TD_ATTR.septVeDisable),
    pks: bit(TD_ATTR.pks),
    kl: bit(TD_ATTR.kl),
    perfmon: bit(TD_ATTR.perfmon),
    otherBits,
  };
}

/** The readable fields of a quote (hex strings, names), as `aconctl verify-quote` prints them. */
export interface QuoteFields {
  version: number;
  body: "TD 1.0" | "TD 1.5";
  attestationKeyType: string;
  teeType: string;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: string;
  userData: string;
  teeTcbSvn: string;
  mrSeam: string;
  mrSignerSeam: string;
  seamAttributes: string;
  tdAttributes: TdAttributes;
  xfam: string;
  mrTd: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  reportData: string;
  teeTcbSvn2?: string;
  mrServiceTd?: string;
  /** Bytes of the quote (without padding) and of the zero padding after it. */
  size: number;
  padding: number;
}

const KEY_TYPES: Record<number, string> = { 2: "ECDSA-256-with-P-256", 3: "ECDSA-384-with-P-384" };

export function quoteFields(q: Quote): QuoteFields {
  const b = q.body;
  const vendor = toHex(q.qeVendorId);
  return {
    version: q.version,
    body: q.bodyType === 3 ? "TD 1.5" : "TD 1.0",
    attestationKeyType: `${KEY_TYPES[q.attKeyType] ?? "unknown"} (${q.attKeyType})`,
    teeType: q.teeType === 0x81 ? "TDX (0x81)" : `0x${q.teeType.toString(16)}`,
    qeSvn: q.qeSvn,
    pceSvn: q.pceSvn,
    qeVendorId: vendor === INTEL_QE_VENDOR_ID ? `${vendor} (Intel)` : vendor,
    userData: toHex(q.userData),
    teeTcbSvn: toHex(b.teeTcbSvn),
    mrSeam: toHex(b.mrSeam),
    mrSignerSeam: toHex(b.mrSignerSeam),
    seamAttributes: toHex(b.seamAttributes),
    tdAttributes: tdAttributes(b.tdAttributes),
    xfam: b.xfam.toString(16).padStart(16, "0"),
    mrTd: toHex(b.mrTd),
    mrConfigId: toHex(b.mrConfigId),
    mrOwner: toHex(b.mrOwner),
    mrOwnerConfig: toHex(b.mrOwnerConfig),
    rtmr0: toHex(b.rtmr[0]),
    rtmr1: toHex(b.rtmr[1]),
    rtmr2: toHex(b.rtmr[2]),
    rtmr3: toHex(b.rtmr[3]),
    reportData: toHex(b.reportData),
    ...(q.teeTcbSvn2 ? { teeTcbSvn2: toHex(q.teeTcbSvn2) } : {}),
    ...(q.mrServiceTd ? { mrServiceTd: toHex(q.mrServiceTd) } : {}),
    size: q.bytes.length,
    padding: q.padding,
  };
}

/** Reads a quote file's bytes into the parsed quote (throws with a reason when malformed). */
export function readQuote(fileBytes: Uint8Array): Quote {
  return parseQuote(quoteBytesFromFile(fileBytes));
}
