import { createHash } from "node:crypto";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  decodeTcgLog,
  encodeTcgLog,
  tcgEventRecord,
  tcgHeader,
  tcgLogLines,
} from "../../../src/attest/tcg_log.ts";
import { FINALIZE_LINE, INIT_LINE, replay } from "../../../src/attest/replay.ts";
import { fromHex, toHex } from "../../../src/digest_boot.ts";

// Golden bytes written out by hand from the TCG PC Client spec's structures (little-endian).
const HEADER_HEX = [
  "00000000", // PCRIndex 0
  "03000000", // EV_NO_ACTION
  "00".repeat(20), // SHA-1 digest field, zero
  "21000000", // EventSize 33
  "53706563204944204576656e74303300", // "Spec ID Event03\0"
  "00000000", // platformClass
  "00", // specVersionMinor
  "02", // specVersionMajor
  "02", // specErrata
  "02", // uintnSize (UINT64)
  "01000000", // numberOfAlgorithms
  "0c00", // TPM_ALG_SHA384
  "3000", // digest size 48
  "00", // vendorInfoSize
].join("");

// sha384("acond Boot {}") from `printf 'acond Boot {}' | sha384sum`.
const BOOT_DIGEST =
  "26bb2cfcc7958054110d9d3c7a516d05891145fabbc041d974903eefe8dc258766cb7882439d6d580a6feeb8db0c397b";
const BOOT_RECORD_HEX = [
  "04000000", // MR index 4 = RTMR3
  "06000000", // EV_EVENT_TAG
  "01000000", // one digest
  "0c00", // SHA-384
  BOOT_DIGEST,
  "15000000", // EventSize 21 = 8 + 13
  "4e4f4341", // TaggedEventID 0x41434F4E ("ACON") little-endian
  "0d000000", // TaggedEventDataSize 13
  "61636f6e6420426f6f74207b7d", // "acond Boot {}"
].join("");

Deno.test("TCG log header: a TCG_PCR_EVENT with Spec ID Event03 declaring SHA-384 only", () => {
  assertEquals(toHex(tcgHeader()), HEADER_HEX);
});

Deno.test("TCG log record: TCG_PCR_EVENT2, MR index 4, EV_EVENT_TAG, digest sha384(text)", () => {
  assertEquals(toHex(tcgEventRecord("acond Boot {}")), BOOT_RECORD_HEX);
  assertEquals(toHex(encodeTcgLog(["acond Boot {}"])), HEADER_HEX + BOOT_RECORD_HEX);
  assertEquals(toHex(encodeTcgLog([])), HEADER_HEX);
});

Deno.test("TCG log round trip: the lines come back and replaying the digests is replaying them", () => {
  const lines = [
    INIT_LINE,
    "acond Boot {}",
    "github.com/intel/ACON AddManifest x/y",
    FINALIZE_LINE,
  ];
  const bin = encodeTcgLog(lines);
  assertEquals(tcgLogLines(bin), lines);
  let h: Uint8Array = new Uint8Array(48);
  for (const e of decodeTcgLog(bin)) {
    const j = new Uint8Array(96);
    j.set(h);
    j.set(e.digest, 48);
    h = fromHex(sha384Hex(j)); // node:crypto, independent of replay()
  }
  assertEquals(toHex(h), toHex(replay(lines)));
});

Deno.test("TCG log decoding refuses a foreign header, truncation and a digest that is not sha384(text)", () => {
  const bin = encodeTcgLog(["acond Boot {}"]);
  assertThrows(() => decodeTcgLog(bin.slice(0, bin.length - 1)), Error, "truncated");
  const h = bin.slice();
  h[HEADER_HEX.length / 2 - 5] = 0x0b; // SHA-256 instead of SHA-384 in the header
  assertThrows(() => decodeTcgLog(h), Error, "header");
  const d = bin.slice();
  d[HEADER_HEX.length / 2 + 14] ^= 1; // first digest byte
  assertThrows(() => tcgLogLines(d), Error, "digest");
});

function sha384Hex(b: Uint8Array): string {
  return createHash("sha384").update(b).digest("hex");
}
