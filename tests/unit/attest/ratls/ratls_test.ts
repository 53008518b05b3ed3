/**
 * The attested TLS certificate (src/attest/ratls/): its structure as openssl reads it, the
 * interoperable RA-TLS evidence byte for byte, and the verifier's verdicts.
 */
import { X509Certificate } from "node:crypto";
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { encodeCBOR } from "@levischuck/tiny-cbor";
import { assert, assertEquals, assertMatch, assertThrows } from "../../../helpers/assert.ts";
import { forgedIdentity, simIdentity } from "../../../helpers/ratls.ts";
import { parseCert } from "../../../../src/attest/ratls/cert.ts";
import {
  claimsBufferFor,
  decodeContext,
  decodeEvidence,
  encodeEvidence,
  EVIDENCE_OID,
  reportDataForClaims,
} from "../../../../src/attest/ratls/evidence.ts";
import { parseAttestedCert, verifyAttestedCert } from "../../../../src/attest/ratls/verify.ts";
import { parseTlsKeyLine, tlsKeyLine } from "../../../../src/attest/ratls/event.ts";
import { parseQuote } from "../../../../src/attest/quote.ts";
import { toHex } from "../../../../src/digest_boot.ts";
import { replay } from "../../../../src/attest/replay.ts";
import { AsnConvert } from "@peculiar/asn1-schema";
import { bootEventLine, parseBootEvent } from "../../../../src/attest/bootevent.ts";

const dec = new TextDecoder();

async function opensslText(pemText: string): Promise<string> {
  const o = await new Deno.Command("openssl", {
    args: ["x509", "-noout", "-text"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = o.stdin.getWriter();
  await w.write(new TextEncoder().encode(pemText));
  await w.close();
  const r = await o.output();
  assertEquals(r.code, 0, dec.decode(r.stderr));
  return dec.decode(r.stdout);
}

Deno.test("attested certificate: openssl reads CN=localhost, ECDSA P-384/SHA-384, 365 days, SAN, serverAuth and both evidence extensions (non-critical); its self-signature verifies", async () => {
  const { id } = await simIdentity();
  const t = await opensslText(id.certPem);
  assertMatch(t, /Version: 3 \(0x2\)/);
  assertMatch(t, /Signature Algorithm: ecdsa-with-SHA384/);
  assertMatch(t, /Issuer: CN = localhost/);
  assertMatch(t, /Subject: CN = localhost/);
  assertMatch(t, /Public-Key: \(384 bit\)[\s\S]*NIST CURVE: P-384/);
  assertMatch(t, /X509v3 Subject Alternative Name: *\n *DNS:localhost/);
  assertMatch(t, /X509v3 Extended Key Usage: *\n *TLS Web Server Authentication/);
  assertMatch(t, /X509v3 Basic Constraints: critical\n *CA:FALSE/);
  // The RA-TLS evidence: present, and not critical (no "critical" after).
  assertMatch(t, new RegExp(`\\n *${EVIDENCE_OID.replaceAll(".", "\\.")}: *\\n`));
  const x = new X509Certificate(id.certDer);
  assert(x.verify(x.publicKey), "self-signed with its own key");
  const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86400_000;
  assertEquals(days, 365);
  // The SPKI the event records is the certificate's.
  assertEquals(toHex(sha384(parseCert(id.certDer).spki)), id.spkiSha384);
  assertEquals(id.attested, true);
});

Deno.test('evidence layout: 0x1a7501([quote, claims]); claims {"pubkey-hash": [7, SHA-384(SPKI)]}; REPORTDATA = SHA-256(claims) ‖ 0×32; the log carries the TlsKey event', async () => {
  const { id, tee, log } = await simIdentity();
  const c = parseCert(id.certDer);
  const ev = c.evidence!;
  // Tag 0x1a7501 (4-byte argument: 0xda), then a 2-element array, then the quote's bstr.
  assertEquals(toHex(ev.subarray(0, 6)), "da001a750182");
  const e = decodeEvidence(ev);
  const spkiHash = sha384(c.spki);
  // The claims buffer byte for byte: map(2) "pubkey-hash" => bstr(52) [7, bstr(48) hash], then
  // "acond-context" => bstr(the context's CBOR).
  const head = "a2" + "6b" + toHex(new TextEncoder().encode("pubkey-hash")) + "5834" + "82" + "07" +
    "5830" + toHex(spkiHash) + "6d" + toHex(new TextEncoder().encode("acond-context"));
  assertEquals(toHex(e.claimsBuffer).slice(0, head.length), head);
  assertEquals(e.claimsBuffer, claimsBufferFor(spkiHash, e.context));
  assertEquals([e.pubkeyHashAlg, toHex(e.pubkeyHash)], [7, toHex(spkiHash)]);
  const q = parseQuote(e.quote);
  assertEquals(q.origin, "sim");
  const rd = new Uint8Array(64);
  rd.set(sha256(e.claimsBuffer));
  assertEquals(toHex(q.body.reportData), toHex(rd));
  assertEquals(toHex(reportDataForClaims(e.claimsBuffer)), toHex(rd));
  // The context: the log at the quote (INIT, Boot, TlsKey), replaying to the quote's RTMR3.
  const ctx = decodeContext(e.context!);
  assertEquals(ctx.rtmr3Log, [...log.lines]);
  assertEquals(ctx.rtmr3Log.at(-1), tlsKeyLine(id.spkiSha384));
  assertEquals(toHex(replay(ctx.rtmr3Log)), toHex(q.body.rtmr[3]));
  assertEquals(ctx.simPublicKey, tee.simPublicKey);
});

Deno.test("verifier: the real certificate passes with allowSim and not without; another key's evidence, no evidence, a tampered log fail", async () => {
  const { id } = await simIdentity();
  const a = parseAttestedCert(id.certDer);
  const ok = verifyAttestedCert(a, { allowSim: true });
  assertEquals(ok.errors, []);
  assertEquals(ok.ok, true);
  assertEquals(ok.spkiSha384, id.spkiSha384);
  const noSim = verifyAttestedCert(a, { allowSim: false });
  assertEquals(noSim.ok, false);
  assertEquals(noSim.errors, ["the evidence is simulated (not TDX hardware)"]);

  // Evidence copied onto a certificate of another key.
  const forged = await forgedIdentity(id);
  const f = verifyAttestedCert(parseAttestedCert(forged.certDer), { allowSim: true });
  assertEquals(f.ok, false);
  assert(
    f.errors.some((x) => /pubkey-hash is not the hash of this certificate's public key/.test(x)),
    f.errors.join("; "),
  );
  assert(f.errors.some((x) => /TlsKey event is for another key/.test(x)), f.errors.join("; "));

  // A log that does not replay to the quote's RTMR3.
  const tampered = {
    ...a,
    context: { ...a.context, rtmr3Log: [...a.context.rtmr3Log, "acond Extra x"] },
  };
  const t = verifyAttestedCert(tampered, { allowSim: true });
  assert(t.errors.some((x) => /does not match the replayed event log/.test(x)), t.errors.join());

  // Reference values apply (as aconctl verify's): a wrong MRTD is refused.
  const mrtd = verifyAttestedCert(a, { allowSim: true, expect: { mrTd: "00".repeat(48) } });
  assert(mrtd.errors.some((x) => /^MRTD is /.test(x)), mrtd.errors.join());

  // Not a certificate at all.
  assertThrows(() => parseAttestedCert(new Uint8Array([0x30, 0x00])), Error, "not an X.509");
});

Deno.test("a certificate without evidence: the verifier says acond could not get a quote", async () => {
  const { id } = await simIdentity();
  const c = parseCert(id.certDer);
  const { buildCertificate } = await import("../../../../src/attest/ratls/cert.ts");
  const k = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, false, [
    "sign",
    "verify",
  ]);
  const der = await buildCertificate(
    { spki: c.spki },
    async (tbs) =>
      new Uint8Array(
        await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, k.privateKey, tbs.slice()),
      ),
  );
  assertThrows(() => parseAttestedCert(der), Error, "carries no attestation evidence");
});

Deno.test("every OID in the certificate has arcs Go's crypto/x509 parses (≤ 2^31 - 1): aconcli and grpc-go read it", async () => {
  // A UUID OID (2.25.<128-bit arc>) for acond's context made Go refuse the whole certificate
  // ("x509: malformed extension OID field"); the context is a claim of the evidence now.
  const { id } = await simIdentity();
  const { Certificate } = await import("@peculiar/asn1-x509");
  const c = AsnConvert.parse(id.certDer.slice().buffer, Certificate);
  const oids = [
    c.signatureAlgorithm.algorithm,
    ...(c.tbsCertificate.extensions ?? []).map((e) => e.extnID),
  ];
  for (const oid of oids) {
    assert(
      oid.split(".").every((arc) => /^\d+$/.test(arc) && Number(arc) <= 2 ** 31 - 1),
      `OID ${oid} has an arc Go cannot parse`,
    );
  }
  assertEquals(oids.includes(EVIDENCE_OID), true);
});

Deno.test("decodeEvidence: what is not the interoperable format is refused with what is wrong", () => {
  const claims = claimsBufferFor(new Uint8Array(48));
  assertEquals(
    decodeEvidence(encodeEvidence(new Uint8Array([1]), claims)).quote,
    new Uint8Array([1]),
  );
  const bad: [Uint8Array, RegExp][] = [
    [new Uint8Array([0xff]), /not well-formed CBOR/],
    [encodeCBOR([new Uint8Array(1), claims]), /not tagged CBOR/],
    [encodeCBOR(new Map([["x", 1]])), /not tagged CBOR/],
    [
      encodeEvidence(new Uint8Array(1), encodeCBOR(new Map([["nonce", new Uint8Array(1)]]))),
      /no "pubkey-hash"/,
    ],
    [
      encodeEvidence(
        new Uint8Array(1),
        encodeCBOR(new Map([["pubkey-hash", encodeCBOR([7])]])),
      ),
      /not a hash-entry/,
    ],
  ];
  for (const [b, re] of bad) {
    let msg = "";
    try {
      decodeEvidence(b);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, re);
  }
  assertThrows(() => decodeContext(encodeCBOR(new Map([["rtmr3-log", [1]]]))), Error, "rtmr3-log");
});

Deno.test("TlsKey event and the boot event's tls: written and read back; junk is not one", () => {
  const h = "ab".repeat(48);
  const line = tlsKeyLine(h);
  assertEquals(line, `acond TlsKey {"alg":"ecdsa-p384","spki_sha384":"${h}"}`);
  assertEquals(parseTlsKeyLine(line), h);
  assertEquals(parseTlsKeyLine(`acond TlsKey {"spki_sha384":"${h}","alg":"ecdsa-p384"}`), null);
  assertEquals(parseTlsKeyLine("acond TlsKey {}"), null);
  assertThrows(() => tlsKeyLine("AB"));
  const facts = {
    version: "0.1.0",
    tee: "sim",
    pid1: true,
    interactive: false,
    debugConsole: false,
    minHash: "sha384",
  };
  for (const tls of [true, false]) {
    const l = bootEventLine({ ...facts, tls });
    assertMatch(l, new RegExp(`"min_hash":"sha384","tls":${tls}\\}$`));
    assertEquals(parseBootEvent(l)?.tls, tls);
  }
  assertEquals(parseBootEvent(bootEventLine(facts))?.tls, undefined); // older lines
  assertEquals(parseBootEvent(bootEventLine(facts).replace("}", ',"tls":"yes"}')), null);
});
