/**
 * Signer certificates (behaviour file §4.3, with Image.md's promises kept): a DER X.509
 * certificate whose own signatureAlgorithm names the hash of the image IDs; the manifest signature
 * is verified with the certificate's public key over the raw manifest bytes. ECDSA (P-256/384/521,
 * DER r,s), RSA PKCS#1 v1.5 and Ed25519 (IDs with SHA-512). No chain or validity-period check:
 * trust comes from the launch policy and the measurement, as in ACON.
 */
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import type { HashAlg } from "../digest.ts";
import { AcondError, invalid, MSG } from "../errors.ts";
import { atLeast } from "../digest_boot.ts";

/** signatureAlgorithm OID → hash of the IDs. */
const SIGNATURE_HASH: ReadonlyMap<string, HashAlg> = new Map([
  ["1.2.840.10045.4.3.2", "sha256"], // ecdsa-with-SHA256
  ["1.2.840.10045.4.3.3", "sha384"], // ecdsa-with-SHA384
  ["1.2.840.10045.4.3.4", "sha512"], // ecdsa-with-SHA512
  ["1.2.840.113549.1.1.11", "sha256"], // sha256WithRSAEncryption
  ["1.2.840.113549.1.1.12", "sha384"], // sha384WithRSAEncryption
  ["1.2.840.113549.1.1.13", "sha512"], // sha512WithRSAEncryption
  ["1.3.101.112", "sha512"], // Ed25519 (Image.md: EdDSA IDs use SHA-512)
]);

/** Known but refused signature algorithms, with the reason given to the user. */
const REFUSED: ReadonlyMap<string, string> = new Map([
  ["1.2.840.113549.1.1.10", "RSASSA-PSS certificates are not supported"],
  ["1.2.840.113549.1.1.5", "SHA-1 is not accepted"],
  ["1.2.840.113549.1.1.4", "MD5 is not accepted"],
  ["1.2.840.10045.4.1", "SHA-1 is not accepted"],
  ["1.2.840.113549.1.1.14", "SHA-224 is not accepted"],
  ["1.2.840.10045.4.3.1", "SHA-224 is not accepted"],
  ["1.3.101.113", "Ed448 certificates are not supported"],
]);

export const MAX_CERTIFICATE_BYTES = 64 * 1024;
export const MAX_SIGNATURE_BYTES = 16 * 1024;

export interface SignerCertificate {
  /** Hash of the image IDs, from the certificate's signatureAlgorithm. */
  alg: HashAlg;
  key: KeyObject;
  keyType: "ec" | "rsa" | "ed25519";
}

function badCert(detail: string, cause?: unknown): AcondError {
  return new AcondError("invalid_argument", `${MSG.badCertificate}: ${detail}`, { cause });
}

/** The length of a DER TLV starting at 0, or -1 when the header is malformed. */
function derLength(b: Uint8Array): number {
  if (b.length < 2) return -1;
  const first = b[1];
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || b.length < 2 + n) return -1;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i];
  return 2 + n + len;
}

/**
 * Parses the certificate and checks that its hash is at least `minHash`. Throws InvalidArgument
 * "Invalid certificate: <why>" for PEM, garbage, trailing bytes, unsupported algorithms or keys.
 */
export function parseCertificate(der: Uint8Array, minHash: HashAlg): SignerCertificate {
  if (der.length === 0) throw badCert("empty");
  if (der.length > MAX_CERTIFICATE_BYTES) {
    throw badCert(`larger than ${MAX_CERTIFICATE_BYTES} bytes`);
  }
  const head = new TextDecoder().decode(der.subarray(0, 64)).trimStart();
  if (head.startsWith("-----BEGIN")) throw badCert("PEM given, DER expected");
  if (der[0] !== 0x30 || derLength(der) !== der.length) {
    throw badCert("not a single DER-encoded X.509 certificate");
  }
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch (e) {
    throw badCert("not a DER-encoded X.509 certificate", e);
  }
  const oid = cert.signatureAlgorithm.algorithm;
  const refused = REFUSED.get(oid);
  if (refused) throw badCert(refused);
  const alg = SIGNATURE_HASH.get(oid);
  if (!alg) throw badCert(`unsupported signature algorithm ${oid}`);
  if (!atLeast(alg, minHash)) {
    throw badCert(`signed with ${alg}, weaker than the minimum ${minHash} (see --min-hash)`);
  }
  let key: KeyObject;
  try {
    const spki = new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo));
    key = createPublicKey({ key: spki as unknown as Buffer, format: "der", type: "spki" });
  } catch (e) {
    throw badCert("unreadable public key", e);
  }
  const t = key.asymmetricKeyType;
  if (t !== "ec" && t !== "rsa" && t !== "ed25519") {
    throw badCert(`unsupported public key type ${t ?? "unknown"}`);
  }
  if (t === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== "prime256v1" && curve !== "secp384r1" && curve !== "secp521r1") {
      throw badCert(`unsupported elliptic curve ${curve ?? "unknown"} (P-256, P-384, P-521)`);
    }
  }
  if (t === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw badCert("RSA keys shorter than 2048 bits are not accepted");
  }
  return { alg, key, keyType: t };
}

/**
 * Verifies `signature` over `data`. Throws InvalidArgument "Invalid digital signature" when it
 * does not verify (a malformed signature encoding included).
 */
export function verifySignature(
  cert: SignerCertificate,
  data: Uint8Array,
  signature: Uint8Array,
): void {
  if (signature.length === 0) throw invalid(`${MSG.badSignature}: empty signature`);
  if (signature.length > MAX_SIGNATURE_BYTES) {
    throw invalid(`${MSG.badSignature}: larger than ${MAX_SIGNATURE_BYTES} bytes`);
  }
  let ok = false;
  try {
    ok = cert.keyType === "ed25519"
      ? verify(null, data, cert.key, signature)
      : verify(cert.alg, data, cert.key, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw invalid(MSG.badSignature);
}
