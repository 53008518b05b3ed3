/**
 * The attested TLS certificate: self-signed X.509 v3, ECDSA P-384 with ecdsa-with-SHA384,
 * subject and issuer CN=localhost (as ACON's, behaviour file §3.1 "TLS certificate"), valid from
 * now for 365 days, SAN DNS:localhost, key usage digitalSignature, extended key usage serverAuth,
 * and the non-critical evidence extensions of ./evidence.ts. Built and parsed with
 * @peculiar/asn1-x509 (the schema acond already parses image certificates with); signed through
 * WebCrypto. Pure apart from the signing callback.
 */
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_kp_serverAuth,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from "@peculiar/asn1-x509";
import { EVIDENCE_OID } from "./evidence.ts";

export const ECDSA_SHA384_OID = "1.2.840.10045.4.3.3";
export const CERT_CN = "localhost";
export const VALIDITY_DAYS = 365;
const CN_OID = "2.5.4.3";

export interface CertInput {
  /** SubjectPublicKeyInfo DER of the key. */
  spki: Uint8Array;
  /** The evidence extension's value (tagged CBOR); absent when no quote could be had. */
  evidence?: Uint8Array;
  now?: Date;
}

function buf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function ext(id: string, critical: boolean, value: ArrayBuffer): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(value) });
}

/** The TBSCertificate DER of the attested certificate. */
export function buildTbs(i: CertInput): TBSCertificate {
  const name = new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({
        type: CN_OID,
        value: new AttributeValue({ utf8String: CERT_CN }),
      }),
    ]),
  ]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x01; // no leading zero byte to strip
  const now = i.now ?? new Date();
  const exts = [
    ext(id_ce_basicConstraints, true, AsnConvert.serialize(new BasicConstraints({ cA: false }))),
    ext(
      id_ce_keyUsage,
      true,
      AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature)),
    ),
    ext(id_ce_extKeyUsage, false, AsnConvert.serialize(new ExtendedKeyUsage([id_kp_serverAuth]))),
    ext(
      id_ce_subjectAltName,
      false,
      AsnConvert.serialize(new SubjectAlternativeName([new GeneralName({ dNSName: CERT_CN })])),
    ),
  ];
  if (i.evidence) exts.push(ext(EVIDENCE_OID, false, buf(i.evidence)));
  return new TBSCertificate({
    version: Version.v3,
    serialNumber: buf(serial),
    signature: new AlgorithmIdentifier({ algorithm: ECDSA_SHA384_OID }),
    issuer: name,
    validity: new Validity({
      notBefore: now,
      notAfter: new Date(now.getTime() + VALIDITY_DAYS * 86400_000),
    }),
    subject: name,
    subjectPublicKeyInfo: AsnConvert.parse(buf(i.spki), SubjectPublicKeyInfo),
    extensions: new Extensions(exts),
  });
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
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const sig = derEcdsaSignature(await sign(tbsDer));
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ECDSA_SHA384_OID }),
    signatureValue: buf(sig),
  });
  return new Uint8Array(AsnConvert.serialize(cert));
}

export interface ParsedCert {
  /** SubjectPublicKeyInfo DER, as in the certificate. */
  spki: Uint8Array;
  subjectCn: string | null;
  notBefore: Date;
  notAfter: Date;
  /** The evidence extension's value, if present. */
  evidence?: Uint8Array;
  evidenceCritical?: boolean;
}

/** Parses a DER certificate for what the verifier needs; throws when malformed. */
export function parseCert(der: Uint8Array): ParsedCert {
  let c: Certificate;
  try {
    c = AsnConvert.parse(buf(der), Certificate);
  } catch (e) {
    throw new Error(`not an X.509 certificate (${(e as Error).message})`);
  }
  const t = c.tbsCertificate;
  const out: ParsedCert = {
    spki: new Uint8Array(AsnConvert.serialize(t.subjectPublicKeyInfo)),
    subjectCn: null,
    notBefore: t.validity.notBefore.getTime(),
    notAfter: t.validity.notAfter.getTime(),
  };
  for (const rdn of t.subject) {
    for (const atv of rdn) {
      if (atv.type === CN_OID) out.subjectCn = atv.value.toString();
    }
  }
  for (const e of t.extensions ?? []) {
    const v = new Uint8Array(e.extnValue.buffer);
    if (e.extnID === EVIDENCE_OID) {
      if (out.evidence) throw new Error("the certificate has two evidence extensions");
      out.evidence = v;
      out.evidenceCritical = e.critical;
    }
  }
  return out;
}

export function pem(label: string, der: Uint8Array): string {
  let bin = "";
  for (const b of der) bin += String.fromCharCode(b);
  return `-----BEGIN ${label}-----\n${
    btoa(bin).match(/.{1,64}/g)!.join("\n")
  }\n-----END ${label}-----\n`;
}
