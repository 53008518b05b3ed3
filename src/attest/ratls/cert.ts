/**
 * The attested TLS certificate, parsed (the verifier's side: aconctl, tests) with
 * @peculiar/asn1-x509, the schema acond already parses image certificates with. Building it is
 * ./cert_build.ts's (plain DER: it runs at boot), re-exported here.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { EVIDENCE_OID } from "./evidence.ts";
import { CN_OID } from "./cert_build.ts";

export {
  buildCertificate,
  buildTbs,
  CERT_CN,
  type CertInput,
  derEcdsaSignature,
  ECDSA_SHA384_OID,
  pem,
  VALIDITY_DAYS,
} from "./cert_build.ts";

function buf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
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
