/**
 * keygen's identities and sign's signatures, checked by the daemon's own certificate code and by
 * the real openssl (certificate parse, self-signature, manifest signature).
 */
import { assertEquals, assertThrows } from "../../../helpers/assert.ts";
import { openssl } from "../../../helpers/pki.ts";
import { makeSigningIdentity } from "../../../../src/cli/image/keygen.ts";
import { certificateDer, privateKey, signBytes, verifies } from "../../../../src/cli/image/sign.ts";
import { parseCertificate } from "../../../../src/image/cert.ts";

const enc = new TextEncoder();

for (
  const [kind, o, alg, sigName] of [
    ["ecdsa", {}, "sha384", "ecdsa-with-SHA384"],
    ["ecdsa", { hash: "sha512" }, "sha512", "ecdsa-with-SHA512"],
    ["rsa", { rsaBits: 2048 }, "sha384", "sha384WithRSAEncryption"],
    ["ed25519", {}, "sha512", "ED25519"],
  ] as const
) {
  Deno.test(`keygen ${kind} ${alg}: acond accepts it; openssl verifies the certificate and a signature`, async () => {
    const id = makeSigningIdentity({ kind, ...o });
    assertEquals(parseCertificate(id.certificate, "sha384").alg, alg);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/c.der`, id.certificate);
      await Deno.writeTextFile(`${dir}/k.pem`, id.keyPem);
      await openssl(["x509", "-inform", "DER", "-in", `${dir}/c.der`, "-out", `${dir}/c.pem`]);
      const text = new TextDecoder().decode(
        await openssl(["x509", "-in", `${dir}/c.pem`, "-noout", "-text"]),
      );
      assertEquals(text.includes(`Signature Algorithm: ${sigName}`), true, text);
      const v = await openssl(["verify", "-CAfile", `${dir}/c.pem`, `${dir}/c.pem`]);
      assertEquals(new TextDecoder().decode(v).trim(), `${dir}/c.pem: OK`);

      const data = enc.encode('{"a":1}');
      const sig = signBytes(data, privateKey(enc.encode(id.keyPem)), id.certificate);
      assertEquals(verifies(data, sig, id.certificate), true);
      await Deno.writeFile(`${dir}/m`, data);
      await Deno.writeFile(`${dir}/s`, sig);
      await openssl(["x509", "-in", `${dir}/c.pem`, "-pubkey", "-noout", "-out", `${dir}/p.pem`]);
      const out = kind === "ed25519"
        ? await openssl([
          "pkeyutl",
          "-verify",
          "-pubin",
          "-inkey",
          `${dir}/p.pem`,
          "-rawin",
          "-in",
          `${dir}/m`,
          "-sigfile",
          `${dir}/s`,
        ])
        : await openssl([
          "dgst",
          `-${alg}`,
          "-verify",
          `${dir}/p.pem`,
          "-signature",
          `${dir}/s`,
          `${dir}/m`,
        ]);
      assertEquals(
        /Verified OK|Signature Verified Successfully/.test(new TextDecoder().decode(out)),
        true,
      );
      // PEM certificates are converted to the DER acond takes.
      assertEquals(certificateDer(await Deno.readFile(`${dir}/c.pem`)), id.certificate);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("sign refuses a key that is not the certificate's", () => {
  const a = makeSigningIdentity({ kind: "ecdsa" });
  const b = makeSigningIdentity({ kind: "ecdsa" });
  const r = makeSigningIdentity({ kind: "ed25519" });
  assertThrows(
    () => signBytes(enc.encode("x"), privateKey(enc.encode(b.keyPem)), a.certificate),
    Error,
    "the key does not belong to the certificate",
  );
  assertThrows(
    () => signBytes(enc.encode("x"), privateKey(enc.encode(r.keyPem)), a.certificate),
    Error,
    "not a pair",
  );
  assertThrows(() => privateKey(enc.encode("garbage")), Error, "not a private key");
});
