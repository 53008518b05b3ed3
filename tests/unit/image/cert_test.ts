import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { makeSigner, openssl, type SignerKind } from "../../helpers/pki.ts";
import { parseCertificate, verifySignature } from "../../../src/image/cert.ts";
import { AcondError } from "../../../src/errors.ts";

const KINDS: SignerKind[] = ["ec-p256", "ec-p384", "ec-p521", "rsa3072", "ed25519"];
const msg = new TextEncoder().encode('{"a":1}');

function throwsInvalid(fn: () => unknown, re: RegExp) {
  assertThrows(fn, (e: unknown) => {
    assertEquals(e instanceof AcondError, true);
    assertEquals((e as AcondError).code, "invalid_argument");
    assertEquals(re.test((e as Error).message), true, (e as Error).message);
    return true;
  });
}

for (const kind of KINDS) {
  Deno.test(`${kind}: openssl signature verifies; another message or key does not`, async () => {
    const s = await makeSigner(kind);
    const c = parseCertificate(s.certificate, "sha384");
    assertEquals(c.alg, kind === "ed25519" ? "sha512" : "sha384");
    const sig = await s.sign(msg);
    verifySignature(c, msg, sig);
    throwsInvalid(
      () => verifySignature(c, new TextEncoder().encode('{"a":2}'), sig),
      /^Invalid digital signature$/,
    );
    const flipped = sig.slice();
    flipped[flipped.length - 1] ^= 1;
    throwsInvalid(() => verifySignature(c, msg, flipped), /^Invalid digital signature$/);
    throwsInvalid(
      () => verifySignature(c, msg, new Uint8Array([0x30, 0x00])),
      /^Invalid digital signature$/,
    );
    const other = await makeSigner(kind === "ec-p384" ? "ec-p256" : "ec-p384");
    throwsInvalid(() => verifySignature(c, msg, new Uint8Array(0)), /Invalid digital signature/);
    throwsInvalid(
      () => verifySignature(parseCertificate(other.certificate, "sha384"), msg, sig),
      /^Invalid digital signature$/,
    );
  });
}

Deno.test("certificate hash: sha512 accepted, sha256 refused unless min-hash sha256", async () => {
  const s512 = await makeSigner("rsa3072", "sha512");
  assertEquals(parseCertificate(s512.certificate, "sha384").alg, "sha512");
  const s256 = await makeSigner("ec-p256", "sha256");
  throwsInvalid(
    () => parseCertificate(s256.certificate, "sha384"),
    /^Invalid certificate: .*sha256.*--min-hash/,
  );
  assertEquals(parseCertificate(s256.certificate, "sha256").alg, "sha256");
  assertEquals(parseCertificate(s512.certificate, "sha512").alg, "sha512");
  const s384 = await makeSigner("ec-p384");
  throwsInvalid(
    () => parseCertificate(s384.certificate, "sha512"),
    /signed with sha384, weaker than the minimum sha512/,
  );
});

Deno.test("PEM, garbage, truncated and trailing bytes are Invalid certificate", async () => {
  const s = await makeSigner("ec-p384");
  const pem = new TextEncoder().encode(s.certificatePem);
  throwsInvalid(
    () => parseCertificate(pem, "sha384"),
    /^Invalid certificate: PEM given, DER expected$/,
  );
  throwsInvalid(() => parseCertificate(new Uint8Array(0), "sha384"), /^Invalid certificate/);
  throwsInvalid(
    () => parseCertificate(new Uint8Array([1, 2, 3]), "sha384"),
    /^Invalid certificate/,
  );
  throwsInvalid(
    () => parseCertificate(s.certificate.slice(0, 100), "sha384"),
    /^Invalid certificate/,
  );
  const trailing = new Uint8Array([...s.certificate, 0]);
  throwsInvalid(() => parseCertificate(trailing, "sha384"), /^Invalid certificate/);
  throwsInvalid(() => parseCertificate(new Uint8Array(70000), "sha384"), /^Invalid certificate/);
});

Deno.test("RSA-PSS certificates are refused with a clear message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa-pss",
      "-pkeyopt",
      "rsa_keygen_bits:2048",
      "-nodes",
      "-keyout",
      `${dir}/k`,
      "-subj",
      "/CN=pss",
      "-sha384",
      "-outform",
      "DER",
      "-out",
      `${dir}/c`,
    ]);
    const der = await Deno.readFile(`${dir}/c`);
    throwsInvalid(() => parseCertificate(der, "sha384"), /^Invalid certificate: RSASSA-PSS/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
