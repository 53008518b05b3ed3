/**
 * The attested TLS certificate, built: self-signed X.509 v3, ECDSA P-384 with ecdsa-with-SHA384,
 * subject and issuer CN=localhost (as ACON's, behaviour file §3.1 "TLS certificate"), valid from
 * now (whole seconds) for 365 days, SAN DNS:localhost, key usage digitalSignature, extended key
 * usage serverAuth, and the non-critical evidence extension of ./evidence.ts. Signed through
 * WebCrypto. Pure apart from the signing callback and the random serial.
 *
 * Written as DER directly (a fixed template, a dozen TLVs): this runs at every boot before TCP
 * listens, and @peculiar/asn1-x509 (with asn1js, ~270 kB of bundle) cost about a second of it
 * under emulation to load and run (docs/boot.md). Parsing certificates stays on asn1-x509
 * (./cert.ts); tests/unit/attest/ratls/cert_build_test.ts checks that this writes byte for byte
 * what asn1-x509 builds from the same fields, and that the boot graph does not load asn1-x509.
 */
import { EVIDENCE_OID } from "./evidence.ts";

export const ECDSA_SHA384_OID = "1.2.840.10045.4.3.3";
export const CERT_CN = "localhost";
export const VALIDITY_DAYS = 365;
export const CN_OID = "2.5.4.3";
const BASIC_CONSTRAINTS_OID = "2.5.29.19";
const KEY_USAGE_OID = "2.5.29.15";
const EXT_KEY_USAGE_OID = "2.5.29.37";
const SUBJECT_ALT_NAME_OID = "2.5.29.17";
const SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1";

export interface CertInput {
  /** SubjectPublicKeyInfo DER of the key. */
  spki: Uint8Array;
  /** The evidence extension's value (tagged CBOR); absent when no quote could be had. */
  evidence?: Uint8Array;
  now?: Date;
  /** 16 bytes; default random (positive, no leading zero byte). Tests only. */
  serial?: Uint8Array;
}

/** One DER TLV: `tag`, the definite length, the concatenated `parts`. */
function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const len = n < 0x80
    ? [n]
    : n < 0x100
    ? [0x81, n]
    : n < 0x10000
    ? [0x82, n >> 8, n & 0xff]
    : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  if (n >= 0x1000000) throw new Error("DER value too long");
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  let off = 1 + len.length;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
const enc = new TextEncoder();

/** An OBJECT IDENTIFIER from its dotted form (arcs below 2^31, as every OID here). */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const body: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const b = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) {
      b.unshift(0x80 | (v & 0x7f));
    }
    body.push(...b);
  }
  return tlv(0x06, new Uint8Array(body));
}

/** X.509 Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5), whole seconds. */
function derTime(d: Date): Uint8Array {
  const two = (n: number) => String(n).padStart(2, "0");
  const rest = two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) +
    two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + "Z";
  const y = d.getUTCFullYear();
  return y > 2049
    ? tlv(0x18, enc.encode(String(y).padStart(4, "0") + rest))
    : tlv(0x17, enc.encode(two(y % 100) + rest));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  // critical is DEFAULT FALSE: DER leaves it out then.
  return critical
    ? seq(derOid(oid), tlv(0x01, new Uint8Array([0xff])), tlv(0x04, value))
    : seq(derOid(oid), tlv(0x04, value));
}

function randomSerial(): Uint8Array {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x01; // no leading zero byte to strip
  return serial;
}

/** The TBSCertificate DER of the attested certificate. */
export function buildTbs(i: CertInput): Uint8Array {
  const serial = i.serial ?? randomSerial();
  if (serial.length !== 16 || serial[0] === 0 || serial[0] & 0x80) {
    throw new Error("the serial must be 16 bytes, positive, without a leading zero byte");
  }
  const now = new Date(i.now ?? new Date());
  now.setUTCMilliseconds(0);
  if (i.spki[0] !== 0x30) throw new Error("the public key is not a SubjectPublicKeyInfo");
  const name = seq(tlv(0x31, seq(derOid(CN_OID), tlv(0x0c, enc.encode(CERT_CN)))));
  const exts = [
    extension(BASIC_CONSTRAINTS_OID, true, seq()), // cA FALSE (the default: left out)
    extension(KEY_USAGE_OID, true, tlv(0x03, new Uint8Array([0x07, 0x80]))), // digitalSignature
    extension(EXT_KEY_USAGE_OID, false, seq(derOid(SERVER_AUTH_OID))),
    extension(SUBJECT_ALT_NAME_OID, false, seq(tlv(0x82, enc.encode(CERT_CN)))), // dNSName
  ];
  if (i.evidence) exts.push(extension(EVIDENCE_OID, false, i.evidence));
  return seq(
    tlv(0xa0, tlv(0x02, new Uint8Array([2]))), // [0] version v3
    tlv(0x02, serial),
    seq(derOid(ECDSA_SHA384_OID)),
    name,
    seq(derTime(now), derTime(new Date(now.getTime() + VALIDITY_DAYS * 86400_000))),
    name,
    i.spki,
    tlv(0xa3, seq(...exts)), // [3] extensions
  );
}

/** An ECDSA signature as X.509 wants it (DER SEQUENCE of two INTEGERs) from WebCrypto's r ‖ s. */
export function derEcdsaSignature(p1363: Uint8Array): Uint8Array {
  if (p1363.length % 2 !== 0 || p1363.length === 0 || p1363.length > 132) {
    throw new Error("not an r ‖ s ECDSA signature");
  }
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b[i] & 0x80 ? [0, ...b.subarray(i)] : [...b.subarray(i)];
    return [2, v.length, ...v];
  };
  const half = p1363.length / 2;
  const body = [...int(p1363.subarray(0, half)), ...int(p1363.subarray(half))];
  // A P-384 body is at most 102 bytes; P-521's can reach 139 (the long length form).
  return new Uint8Array(
    body.length < 128 ? [0x30, body.length, ...body] : [0x30, 0x81, body.length, ...body],
  );
}

/** Builds and signs the certificate; `sign` returns the ECDSA-SHA384 signature as r ‖ s. */
export async function buildCertificate(
  i: CertInput,
  sign: (tbs: Uint8Array) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const tbs = buildTbs(i);
  const sig = derEcdsaSignature(await sign(tbs));
  const bits = new Uint8Array(sig.length + 1); // BIT STRING: no unused bits
  bits.set(sig, 1);
  return seq(tbs, seq(derOid(ECDSA_SHA384_OID)), tlv(0x03, bits));
}

export function pem(label: string, der: Uint8Array): string {
  let bin = "";
  for (const b of der) bin += String.fromCharCode(b);
  return `-----BEGIN ${label}-----\n${
    btoa(bin).match(/.{1,64}/g)!.join("\n")
  }\n-----END ${label}-----\n`;
}
