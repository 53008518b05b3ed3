/**
 * The attested certificate's DER writer (src/attest/ratls/cert_build.ts) against @peculiar/asn1-x509
 * building the same fields (the schema acond built it with before, and parses it with): byte for
 * byte the same TBSCertificate and Certificate.
 */
import { assertEquals, assertThrows } from "../../../helpers/assert.ts";
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
import {
  buildCertificate,
  buildTbs,
  CERT_CN,
  derOid,
  ECDSA_SHA384_OID,
  VALIDITY_DAYS,
} from "../../../../src/attest/ratls/cert_build.ts";
import { parseCert } from "../../../../src/attest/ratls/cert.ts";
import { EVIDENCE_OID } from "../../../../src/attest/ratls/evidence.ts";

function buf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** The certificate's fields as asn1-x509 objects (what acond's builder was, serial and time given). */
function libraryTbs(spki: Uint8Array, serial: Uint8Array, now: Date, evidence?: Uint8Array) {
  const ext = (id: string, critical: boolean, value: ArrayBuffer) =>
    new Extension({ extnID: id, critical, extnValue: new OctetString(value) });
  const name = new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({
        type: "2.5.4.3",
        value: new AttributeValue({ utf8String: CERT_CN }),
      }),
    ]),
  ]);
  const exts = [
    ext(id_ce_basicConstraints, true, AsnConvert.serialize(new BasicConstraints({ cA: false }))),
    ext(id_ce_keyUsage, true, AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature))),
    ext(id_ce_extKeyUsage, false, AsnConvert.serialize(new ExtendedKeyUsage([id_kp_serverAuth]))),
    ext(
      id_ce_subjectAltName,
      false,
      AsnConvert.serialize(new SubjectAlternativeName([new GeneralName({ dNSName: CERT_CN })])),
    ),
  ];
  if (evidence) exts.push(ext(EVIDENCE_OID, false, buf(evidence)));
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
    subjectPublicKeyInfo: AsnConvert.parse(buf(spki), SubjectPublicKeyInfo),
    extensions: new Extensions(exts),
  });
}

async function p384Spki(): Promise<Uint8Array> {
  const k = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]);
  return new Uint8Array(await crypto.subtle.exportKey("spki", k.publicKey));
}

Deno.test("cert_build writes the TBSCertificate asn1-x509 builds from the same fields, byte for byte", async () => {
  const spki = await p384Spki();
  const serial = Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 1) & 0x7f);
  // Short, long-form (0x81, 0x82, 0x83) evidence; UTCTime (with milliseconds dropped) and the
  // GeneralizedTime of years after 2049 (notAfter crosses over in the second date).
  const evidences = [undefined, new Uint8Array(5), new Uint8Array(200), new Uint8Array(3000)];
  evidences.push(new Uint8Array(70_000).map((_, i) => i));
  const dates = [new Date("2026-12-02T08:15:42.123Z"), new Date("2049-06-30T23:59:59.999Z")];
  dates.push(new Date("2051-01-01T00:00:00Z"));
  for (const evidence of evidences) {
    for (const now of dates) {
      const ours = buildTbs({ spki, evidence, now, serial });
      const theirs = new Uint8Array(AsnConvert.serialize(libraryTbs(spki, serial, now, evidence)));
      assertEquals(ours, theirs, `evidence ${evidence?.length}, ${now.toISOString()}`);
    }
  }
});

Deno.test("cert_build's certificate: as asn1-x509's, parsed back by parseCert, verified by WebCrypto", async () => {
  const k = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", k.publicKey));
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = 0x42;
  const now = new Date("2026-12-02T08:00:00Z");
  const evidence = new Uint8Array(1800).fill(7);
  let signed: Uint8Array | undefined;
  let p1363: Uint8Array | undefined;
  const der = await buildCertificate({ spki, evidence, now, serial }, async (tbs) => {
    signed = tbs;
    p1363 = new Uint8Array(
      await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, k.privateKey, tbs.slice()),
    );
    return p1363;
  });
  // The library's Certificate of the same TBS and signature is the same bytes.
  const lib = AsnConvert.parse(buf(der), Certificate);
  assertEquals(new Uint8Array(AsnConvert.serialize(lib)), der);
  assertEquals(new Uint8Array(AsnConvert.serialize(lib.tbsCertificate)), signed);
  const c = parseCert(der);
  assertEquals(c.spki, spki);
  assertEquals(c.subjectCn, "localhost");
  assertEquals(c.notBefore.toISOString(), "2026-12-02T08:00:00.000Z");
  assertEquals(c.notAfter.getTime() - c.notBefore.getTime(), VALIDITY_DAYS * 86400_000);
  assertEquals(c.evidence, evidence);
  assertEquals(c.evidenceCritical, false);
  assertEquals(
    await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-384" },
      k.publicKey,
      p1363!.slice(),
      signed!.slice(),
    ),
    true,
  );
  // A random serial is 16 bytes, positive, with no leading zero byte.
  const tbs = AsnConvert.parse(buf(buildTbs({ spki })), TBSCertificate);
  const s = new Uint8Array(tbs.serialNumber);
  assertEquals([s.length, s[0] > 0 && s[0] < 0x80], [16, true]);
});

Deno.test("cert_build: OIDs as the library encodes them; malformed inputs refused", () => {
  assertEquals(
    derOid("1.2.840.10045.4.3.3"),
    new Uint8Array([6, 8, 42, 134, 72, 206, 61, 4, 3, 3]),
  );
  assertEquals(derOid("2.23.133.5.4.9"), new Uint8Array([6, 6, 103, 129, 5, 5, 4, 9]));
  assertThrows(() => buildTbs({ spki: new Uint8Array([4, 0]) }), Error, "SubjectPublicKeyInfo");
  const spki = new Uint8Array([0x30, 0]);
  assertThrows(() => buildTbs({ spki, serial: new Uint8Array(15).fill(1) }), Error, "16 bytes");
  assertThrows(() => buildTbs({ spki, serial: new Uint8Array(16).fill(0x80) }), Error, "positive");
});
