/**
 * The RTMR3 event log as TCG2 crypto-agile records (TCG PC Client Platform Firmware Profile,
 * "crypto agile log format"; UEFI 2.11 §38 CC event log), so off-the-shelf parsers
 * (tpm2_eventlog, CCEL tools) read it. Pure: no I/O. Layout (all integers little-endian):
 *
 *   header, a TCG_PCR_EVENT (SHA-1 format, as every crypto-agile log starts):
 *     u32 PCRIndex 0 | u32 EventType EV_NO_ACTION (3) | 20 zero bytes | u32 EventSize 33 |
 *     TCG_EfiSpecIDEventStruct: "Spec ID Event03\0" | u32 platformClass 0 | u8 minor 0 |
 *     u8 major 2 | u8 errata 2 | u8 uintnSize 2 | u32 numberOfAlgorithms 1 |
 *     {u16 TPM_ALG_SHA384 0x000C, u16 48} | u8 vendorInfoSize 0
 *   then one TCG_PCR_EVENT2 per line of the log, in order (INIT first: it is extended too):
 *     u32 MRIndex 4 (RTMR3 in the CC measurement register numbering: 0 MRTD, 1..4 RTMR0..3) |
 *     u32 EventType EV_EVENT_TAG (6) | u32 DigestCount 1 | u16 0x000C | 48-byte digest |
 *     u32 EventSize | TCG_PCClientTaggedEvent: u32 TaggedEventID | u32 DataSize | the line (ASCII)
 *
 * Differences from CoCo's AAEL v2, on purpose: the digest is sha384(line), what acond (like
 * ACON) extends into RTMR3, not the hash of the tagged event; so the tag is our own, "ACON"
 * (0x41434F4E, stored little-endian as AAEL stores 0x4141454C), and a verifier that recomputes
 * AAEL digests is not misled. Replaying the digests from zero gives RTMR3.
 */
import { sha384 } from "../digest_boot.ts";

export const EV_NO_ACTION = 0x3;
export const EV_EVENT_TAG = 0x6;
export const TPM_ALG_SHA384 = 0x000c;
/** CC measurement register index of RTMR3 (UEFI CC_MEASUREMENT_PROTOCOL: RTMR n = n + 1). */
export const CC_MR_RTMR3 = 4;
/** TaggedEventID of acond's events: the ASCII "ACON" as a big-endian number. */
export const ACON_TAG = 0x41434f4e;

const enc = new TextEncoder();

class Writer {
  #parts: Uint8Array[] = [];
  #len = 0;
  u8(v: number): this {
    return this.bytes(Uint8Array.of(v));
  }
  u16(v: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    return this.bytes(b);
  }
  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return this.bytes(b);
  }
  bytes(b: Uint8Array): this {
    this.#parts.push(b);
    this.#len += b.length;
    return this;
  }
  get length(): number {
    return this.#len;
  }
  done(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.#len);
    let off = 0;
    for (const p of this.#parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

/** The TCG_EfiSpecIDEventStruct declaring SHA-384 only. */
function specIdEvent(): Uint8Array {
  return new Writer()
    .bytes(enc.encode("Spec ID Event03\0"))
    .u32(0) // platformClass: client
    .u8(0).u8(2).u8(2) // spec version 2.0, errata 2
    .u8(2) // uintnSize: UINT64
    .u32(1).u16(TPM_ALG_SHA384).u16(48)
    .u8(0) // no vendor info
    .done();
}

/** The header record (TCG_PCR_EVENT, EV_NO_ACTION, Spec ID Event03). */
export function tcgHeader(): Uint8Array<ArrayBuffer> {
  const ev = specIdEvent();
  return new Writer().u32(0).u32(EV_NO_ACTION).bytes(new Uint8Array(20)).u32(ev.length)
    .bytes(ev).done();
}

/** One TCG_PCR_EVENT2 of type EV_EVENT_TAG carrying `line`, digest sha384(line). */
export function tcgEventRecord(line: string): Uint8Array<ArrayBuffer> {
  const text = enc.encode(line);
  const tagged = new Writer().u32(ACON_TAG).u32(text.length).bytes(text).done();
  return new Writer()
    .u32(CC_MR_RTMR3).u32(EV_EVENT_TAG)
    .u32(1).u16(TPM_ALG_SHA384).bytes(sha384(line))
    .u32(tagged.length).bytes(tagged)
    .done();
}

/** The whole log: the header, then one record per line. */
export function encodeTcgLog(lines: readonly string[]): Uint8Array<ArrayBuffer> {
  const w = new Writer().bytes(tcgHeader());
  for (const l of lines) w.bytes(tcgEventRecord(l));
  return w.done();
}

export interface TcgEvent {
  mrIndex: number;
  eventType: number;
  digest: Uint8Array;
  /** The text of an ACON-tagged event, else null. */
  text: string | null;
  event: Uint8Array;
}

/**
 * Parses a log this module wrote (header + SHA-384-only TCG_PCR_EVENT2 records); throws on
 * anything else. For verifiers of a bundle and for tests; not a general TCG parser.
 */
export function decodeTcgLog(b: Uint8Array): TcgEvent[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const need = (off: number, n: number) => {
    if (off + n > b.length) throw new Error(`TCG log truncated at byte ${off}`);
  };
  const header = tcgHeader();
  need(0, header.length);
  if (!header.every((x, i) => b[i] === x)) {
    throw new Error("TCG log: not a SHA-384-only Spec ID Event03 header");
  }
  const out: TcgEvent[] = [];
  let off = header.length;
  while (off < b.length) {
    need(off, 14 + 48 + 4);
    const mrIndex = dv.getUint32(off, true);
    const eventType = dv.getUint32(off + 4, true);
    if (dv.getUint32(off + 8, true) !== 1 || dv.getUint16(off + 12, true) !== TPM_ALG_SHA384) {
      throw new Error(`TCG log: record at byte ${off} is not a single SHA-384 digest`);
    }
    const digest = b.slice(off + 14, off + 62);
    const size = dv.getUint32(off + 62, true);
    need(off + 66, size);
    const event = b.slice(off + 66, off + 66 + size);
    let text: string | null = null;
    if (eventType === EV_EVENT_TAG && size >= 8) {
      const ev = new DataView(event.buffer);
      if (ev.getUint32(0, true) === ACON_TAG && ev.getUint32(4, true) === size - 8) {
        text = new TextDecoder("utf-8", { fatal: true }).decode(event.subarray(8));
      }
    }
    out.push({ mrIndex, eventType, digest, text, event });
    off += 66 + size;
  }
  return out;
}

/**
 * The text lines of a log this module wrote, each checked: RTMR3's index, EV_EVENT_TAG, the ACON
 * tag, and digest = sha384(text) (so replaying the lines is replaying the digests).
 */
export function tcgLogLines(b: Uint8Array): string[] {
  return decodeTcgLog(b).map((e, i) => {
    if (e.mrIndex !== CC_MR_RTMR3 || e.eventType !== EV_EVENT_TAG || e.text === null) {
      throw new Error(`TCG log: event ${i} is not an ACON-tagged RTMR3 event`);
    }
    const d = sha384(e.text);
    if (!d.every((x, j) => x === e.digest[j])) {
      throw new Error(`TCG log: event ${i}'s digest is not sha384 of its text`);
    }
    return e.text;
  });
}
