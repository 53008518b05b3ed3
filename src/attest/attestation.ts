/**
 * ACON's attestation-data JSON (behaviour file §6.2) and REPORTDATA (§6.3). Pure.
 * {"api_version":"1.0.0","requestor_nonce":[16 numbers],"acond_nonce":[16 numbers],
 *  "attestation_data":{"<image id>":{"<container id>":{}|{"type":t,"data":"..."}}}}
 * Images in sorted order (every loaded image, `{}` when it has no containers), containers in
 * numeric order. Strings are escaped as serde_json does (JSON.stringify matches it for
 * well-formed strings: `"` `\` and control characters; no `/` escaping; UTF-8 kept).
 */
import { sha384 } from "../digest_boot.ts";
import type { AttestData } from "../state.ts";
import { AcondError } from "../errors.ts";

export const ATTESTATION_API_VERSION = "1.0.0";

export interface AttestedContainer {
  id: number;
  imageId: string;
  attestData: AttestData | null;
}

export interface AttestationInput {
  requestorNonce: Uint8Array;
  acondNonce: Uint8Array;
  imageIds: Iterable<string>;
  containers: Iterable<AttestedContainer>;
}

/**
 * Bounds on containers' attestation data (docs/attestation.md "Limits"), so that whatever the
 * containers store, every report fits the container socket's 1 MiB message (attest/ipc.ts
 * MAX_MESSAGE) with room for the event log, the JSON's frame and a quote: one container's data
 * is at most MAX_ATTEST_DATA_BYTES as it appears in the JSON (escaped), all containers' stored
 * data at most MAX_ATTEST_TOTAL_BYTES. A container over either bound gets the error; no other
 * container's request fails because of it.
 */
export const MAX_ATTEST_DATA_BYTES = 64 * 1024;
export const MAX_ATTEST_TOTAL_BYTES = 512 * 1024;

const utf8 = new TextEncoder();

/** The bytes `data` takes in the attestation JSON (as JSON.stringify escapes it, in UTF-8). */
export function attestDataBytes(d: AttestData | null): number {
  return d ? utf8.encode(JSON.stringify(d.data)).length : 0;
}

/** Refuses one container's data over its own bound (get_report's data for one report, too). */
export function checkAttestDataSize(d: AttestData): void {
  const n = attestDataBytes(d);
  if (n > MAX_ATTEST_DATA_BYTES) {
    throw new AcondError(
      "resource_exhausted",
      `Attestation data too large: ${n} bytes in the report JSON, at most ${MAX_ATTEST_DATA_BYTES}`,
    );
  }
}

/**
 * Refuses storing `d` for container `cid` when it is over its own bound, or when the data all
 * containers store would then be over MAX_ATTEST_TOTAL_BYTES (its old data does not count).
 */
export function checkStoredAttestData(
  containers: Iterable<{ id: number; attestData: AttestData | null }>,
  cid: number,
  d: AttestData,
): void {
  checkAttestDataSize(d);
  let others = 0;
  for (const c of containers) if (c.id !== cid) others += attestDataBytes(c.attestData);
  const n = attestDataBytes(d);
  if (others + n > MAX_ATTEST_TOTAL_BYTES) {
    throw new AcondError(
      "resource_exhausted",
      `Attestation data not stored: the containers' data would take ${others + n} bytes, ` +
        `at most ${MAX_ATTEST_TOTAL_BYTES} for all containers; store less (a digest of it)`,
    );
  }
}

/** requestor_nonce bytes: LE(lo) ‖ LE(hi), i.e. the little-endian u128 hi<<64|lo. */
export function nonceBytes(lo: bigint, hi: bigint): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt.asUintN(64, lo), true);
  dv.setBigUint64(8, BigInt.asUintN(64, hi), true);
  return b;
}

export function nonceFromBytes(b: Uint8Array): { lo: bigint; hi: bigint } {
  if (b.length !== 16) throw new Error("a nonce is 16 bytes");
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  return { lo: dv.getBigUint64(0, true), hi: dv.getBigUint64(8, true) };
}

const byteArray = (b: Uint8Array) => `[${Array.from(b).join(",")}]`;

export function attestationJson(input: AttestationInput): string {
  if (input.requestorNonce.length !== 16 || input.acondNonce.length !== 16) {
    throw new Error("nonces are 16 bytes");
  }
  const byImage = new Map<string, AttestedContainer[]>();
  for (const id of input.imageIds) byImage.set(id, []);
  for (const c of input.containers) {
    // A container of an image that is not loaded cannot exist; skip rather than invent a key.
    byImage.get(c.imageId)?.push(c);
  }
  const images = [...byImage.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = images.map((id) => {
    const cs = byImage.get(id)!.sort((a, b) => a.id - b.id);
    const inner = cs.map((c) => {
      const v = c.attestData
        ? `{"type":${c.attestData.type | 0},"data":${JSON.stringify(c.attestData.data)}}`
        : "{}";
      return `${JSON.stringify(String(c.id))}:${v}`;
    });
    return `${JSON.stringify(id)}:{${inner.join(",")}}`;
  });
  return `{"api_version":${JSON.stringify(ATTESTATION_API_VERSION)},"requestor_nonce":${
    byteArray(input.requestorNonce)
  },"acond_nonce":${byteArray(input.acondNonce)},"attestation_data":{${parts.join(",")}}}`;
}

/** REPORTDATA = sha384(JSON) ‖ 16 zero bytes. */
export function reportDataFor(json: string): Uint8Array<ArrayBuffer> {
  const rd = new Uint8Array(64);
  rd.set(sha384(json));
  return rd;
}
