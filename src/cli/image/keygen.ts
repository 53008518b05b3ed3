/**
 * `aconctl keygen`: a signing key (PKCS#8 PEM) and a self-signed DER certificate that acond
 * accepts (image/cert.ts): ECDSA P-384 with ecdsa-with-SHA384 by default, RSA (PKCS#1 v1.5,
 * sha384WithRSAEncryption) or Ed25519. Keys come from node:crypto (OpenSSL underneath, the library
 * the daemon verifies with); the certificate is built with @peculiar/asn1-x509, the schema the
 * daemon parses certificates with.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  sign,
} from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from "@peculiar/asn1-x509";
import { UsageError } from "../command.ts";
import { parseCertificate } from "../../image/cert.ts";
import { computeImageId } from "../../image/ids.ts";
import { exists, flags, intFlag, withHelp } from "./args.ts";
import { printJson } from "../command.ts";

export type KeyKind = "ecdsa" | "rsa" | "ed25519";
export type CertHash = "sha384" | "sha512";

export interface KeygenOptions {
  kind: KeyKind;
  /** RSA modulus bits (default 3072). */
  rsaBits?: number;
  /** The certificate's signature hash, which names the image ids (Ed25519: always sha512). */
  hash?: CertHash;
  /** The subject and issuer common name. */
  commonName?: string;
  /** Validity in days from now (acond does not check it). */
  days?: number;
}

const SIG_OID: Record<"ecdsa" | "rsa", Record<CertHash, string>> = {
  ecdsa: { sha384: "1.2.840.10045.4.3.3", sha512: "1.2.840.10045.4.3.4" },
  rsa: { sha384: "1.2.840.113549.1.1.12", sha512: "1.2.840.113549.1.1.13" },
};
const ED25519_OID = "1.3.101.112";
const CN_OID = "2.5.4.3";
const DER_NULL = new Uint8Array([5, 0]).buffer;

function newKey(o: KeygenOptions): KeyObject {
  switch (o.kind) {
    case "ecdsa":
      return generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
    case "rsa":
      return generateKeyPairSync("rsa", { modulusLength: o.rsaBits ?? 3072 }).privateKey;
    case "ed25519":
      return generateKeyPairSync("ed25519").privateKey;
  }
}

function buf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** A self-signed certificate (DER) for the private key. */
export function selfSignedCertificate(key: KeyObject, o: KeygenOptions): Uint8Array {
  const hash: CertHash = o.hash ?? "sha384";
  const sigAlg = o.kind === "ed25519"
    ? new AlgorithmIdentifier({ algorithm: ED25519_OID })
    : new AlgorithmIdentifier({
      algorithm: SIG_OID[o.kind][hash],
      parameters: o.kind === "rsa" ? DER_NULL : undefined,
    });
  const spkiDer = createPublicKey(key).export({ type: "spki", format: "der" });
  const name = new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({
        type: CN_OID,
        value: new AttributeValue({ utf8String: o.commonName ?? "aconctl image signer" }),
      }),
    ]),
  ]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x01; // no leading zero byte to strip
  const now = new Date();
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: buf(serial),
    signature: sigAlg,
    issuer: name,
    validity: new Validity({
      notBefore: now,
      notAfter: new Date(now.getTime() + (o.days ?? 3650) * 86400_000),
    }),
    subject: name,
    subjectPublicKeyInfo: AsnConvert.parse(spkiDer, SubjectPublicKeyInfo),
    extensions: new Extensions([
      new Extension({
        extnID: id_ce_basicConstraints,
        critical: true,
        extnValue: new OctetString(AsnConvert.serialize(new BasicConstraints({ cA: false }))),
      }),
      new Extension({
        extnID: id_ce_keyUsage,
        critical: true,
        extnValue: new OctetString(
          AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature)),
        ),
      }),
    ]),
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const signature = sign(o.kind === "ed25519" ? null : hash, tbsDer, key);
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: sigAlg,
    signatureValue: buf(new Uint8Array(signature)),
  });
  return new Uint8Array(AsnConvert.serialize(cert));
}

export interface SigningIdentity {
  /** PKCS#8 PEM. */
  keyPem: string;
  /** Self-signed certificate, DER. */
  certificate: Uint8Array;
}

export function makeSigningIdentity(o: KeygenOptions): SigningIdentity {
  const key = newKey(o);
  const keyPem = key.export({ type: "pkcs8", format: "pem" }) as string;
  // Parsed back as the daemon does: what keygen writes is always acceptable to acond.
  const certificate = selfSignedCertificate(createPrivateKey(keyPem), o);
  parseCertificate(certificate, "sha384");
  return { keyPem, certificate };
}

export const keygenCommand = withHelp({
  name: "keygen",
  usage: "keygen --key FILE --cert FILE [--rsa [--bits N] | --ed25519] [--hash sha384|sha512]",
  summary: "make a signing key and a self-signed DER certificate acond accepts",
  help: `Writes a private key (PKCS#8 PEM, mode 0600) and a self-signed X.509 certificate (DER).
Existing files are never overwritten. The certificate's signature hash names the image ids
(sha384/... by default; Ed25519 certificates give sha512 ids).

  --key FILE        the private key to write
  --cert FILE       the certificate to write (DER)
  --rsa             RSA instead of ECDSA P-384 (--bits, default 3072, at least 2048)
  --ed25519         Ed25519 instead of ECDSA P-384
  --hash ALG        sha384 (default) or sha512
  --cn NAME         the certificate's common name (default "aconctl image signer")
  --days N          validity in days (default 3650; acond does not check it)
  --json            print {key, cert, signerId} as JSON`,
  async run(c) {
    const { values, positionals } = flags(c.args, {
      key: { type: "string" },
      cert: { type: "string" },
      rsa: { type: "boolean" },
      bits: { type: "string" },
      ed25519: { type: "boolean" },
      hash: { type: "string" },
      cn: { type: "string" },
      days: { type: "string" },
    });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (!values.key || !values.cert) {
      throw new UsageError("keygen needs --key FILE and --cert FILE");
    }
    if (values.key === values.cert) {
      throw new UsageError("--key and --cert must be different files");
    }
    if (values.rsa && values.ed25519) {
      throw new UsageError("--rsa and --ed25519 exclude each other");
    }
    if (values.bits && !values.rsa) throw new UsageError("--bits applies to --rsa keys only");
    const hash = values.hash ?? "sha384";
    if (hash !== "sha384" && hash !== "sha512") {
      throw new UsageError(`--hash is sha384 or sha512, not "${hash}"`);
    }
    if (values.ed25519 && values.hash) {
      throw new UsageError("--hash does not apply to Ed25519 (its ids always use sha512)");
    }
    const o: KeygenOptions = {
      kind: values.rsa ? "rsa" : values.ed25519 ? "ed25519" : "ecdsa",
      rsaBits: intFlag("bits", values.bits, 2048, 16384),
      hash,
      commonName: values.cn,
      days: intFlag("days", values.days, 1, 365 * 100),
    };
    for (const p of [values.key, values.cert]) {
      if (await exists(p)) {
        throw new Error(`${p} exists; keygen never overwrites (remove it or choose another path)`);
      }
    }
    const id = makeSigningIdentity(o);
    // createNew: a file that appeared meanwhile is not overwritten either.
    await Deno.writeTextFile(values.key, id.keyPem, { createNew: true, mode: 0o600 });
    try {
      await Deno.writeFile(values.cert, id.certificate, { createNew: true, mode: 0o644 });
    } catch (e) {
      await Deno.remove(values.key);
      throw new Error(`cannot write ${values.cert}: ${(e as Error).message}`);
    }
    const alg = parseCertificate(id.certificate, "sha256").alg;
    const signerId = computeImageId(alg, id.certificate, new Uint8Array()).id.split("/")
      .slice(0, 2).join("/");
    if (c.json) printJson({ key: values.key, cert: values.cert, kind: o.kind, signerId });
    else {
      console.log(`key:  ${values.key} (${o.kind === "ecdsa" ? "ECDSA P-384" : o.kind})`);
      console.log(`cert: ${values.cert} (DER; signer ${signerId})`);
    }
    return 0;
  },
});
