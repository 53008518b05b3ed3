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
