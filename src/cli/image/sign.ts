/**
 * Signing a manifest the way acond verifies it (image/cert.ts): over the exact bytes, with the
 * certificate's key and the hash its signatureAlgorithm names; ECDSA signatures DER (r,s), RSA
 * PKCS#1 v1.5, Ed25519 pure. The signature is checked against the certificate before it is used.
 */
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import { parseCertificate, type SignerCertificate, verifySignature } from "../../image/cert.ts";

import { printJson, UsageError } from "../command.ts";
import { computeImageId } from "../../image/ids.ts";
import { manifestProblems } from "../../image/manifest.ts";
import { isHashAlg } from "../../digest_boot.ts";
import type { HashAlg } from "../../digest.ts";
import { flags, readBytes, withHelp } from "./args.ts";
import { canonicalize, utf8 } from "./canonical.ts";
import { CERT_FILE, isDirectory, MANIFEST_FILE, SIGNATURE_FILE } from "./imagedir.ts";

/** A certificate file as DER: PEM ("-----BEGIN CERTIFICATE-----") is converted. */
export function certificateDer(bytes: Uint8Array): Uint8Array {
  const head = new TextDecoder().decode(bytes.subarray(0, 100)).trimStart();
  if (!head.startsWith("-----BEGIN")) return bytes;
  const m = new TextDecoder().decode(bytes).match(
    /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/,
  );
  if (!m) throw new Error("the certificate is PEM but not a CERTIFICATE block");
  return Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

/** The certificate as acond reads it (any hash: the daemon's --min-hash is its own business). */
export function signerCertificate(der: Uint8Array): SignerCertificate {
  return parseCertificate(der, "sha256");
}

export function privateKey(bytes: Uint8Array): KeyObject {
  try {
    const text = new TextDecoder().decode(bytes);
    return text.includes("-----BEGIN")
      ? createPrivateKey(text)
      : createPrivateKey({ key: bytes as unknown as Buffer, format: "der", type: "pkcs8" });
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(`not a private key (PEM or PKCS#8 DER, unencrypted): ${msg}`);
  }
}

/** Signs `data`; throws when the key is not the certificate's. */
export function signBytes(data: Uint8Array, key: KeyObject, certDer: Uint8Array): Uint8Array {
  const cert = signerCertificate(certDer);
  if (key.asymmetricKeyType !== cert.keyType) {
    throw new Error(
      `the key is ${key.asymmetricKeyType}, the certificate's is ${cert.keyType}: not a pair`,
    );
  }
  const signature = new Uint8Array(
    sign(cert.keyType === "ed25519" ? null : cert.alg, data, key),
  );
  try {
    verifySignature(cert, data, signature);
  } catch {
    throw new Error("the key does not belong to the certificate (the signature does not verify)");
  }
  return signature;
}

/** Whether `signature` over `data` verifies with the certificate (false on any error). */
export function verifies(data: Uint8Array, signature: Uint8Array, certDer: Uint8Array): boolean {
  try {
    verifySignature(signerCertificate(certDer), data, signature);
    return true;
  } catch {
    return false;
  }
}

// --- aconctl sign ---

/** The --min-hash flag (acond's option of the same name; default sha384). */
export function minHashFlag(v: string | undefined): HashAlg {
  const alg = v ?? "sha384";
  if (!isHashAlg(alg)) throw new UsageError(`--min-hash is sha256, sha384 or sha512, not "${alg}"`);
  return alg;
}

/** Writes a file by a rename (never half-written). */
export async function writeAtomic(path: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeFile(tmp, data, { mode });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

export function problemsError(what: string, problems: string[]): Error {
  return new Error(
    `${what} has ${problems.length} problem${problems.length > 1 ? "s" : ""}:\n` +
      problems.map((p) => `  - ${p}`).join("\n"),
  );
}

export const signCommand = withHelp({
  name: "sign",
  usage: "sign DIR --key FILE --cert FILE [--min-hash ALG]",
  summary: "canonicalise DIR/manifest.json (jq -jcS .) and sign it in place",
  help:
    `Checks the manifest with acond's rules (every problem is listed; nothing is written if there
is one), rewrites DIR/${MANIFEST_FILE} in canonical form (sorted keys, compact, jq's escaping and
numbers: exactly \`jq -jcS .\`), signs those bytes with the key as acond verifies them, and writes
DIR/${SIGNATURE_FILE} and DIR/${CERT_FILE} (the certificate as DER; a PEM certificate is converted).
Prints the image id acond will give the image.

  --key FILE       the private key (PEM or PKCS#8 DER; aconctl keygen makes one)
  --cert FILE      its certificate (DER or PEM)
  --min-hash ALG   the daemon's --min-hash the manifest is checked against (default sha384)
  --json           print {imageId, manifest, signature, certificate} as JSON`,
  async run(c) {
    const { values, positionals } = flags(c.args, {
      key: { type: "string" },
      cert: { type: "string" },
      "min-hash": { type: "string" },
    });
    const dir = positionals[0];
    if (!dir || positionals.length > 1) throw new UsageError("sign needs one image directory");
    if (!values.key || !values.cert) throw new UsageError("sign needs --key FILE and --cert FILE");
    if (!(await isDirectory(dir))) {
      throw new UsageError(`${dir} is not a directory (aconctl generate --out DIR makes one)`);
    }
    const minHash = minHashFlag(values["min-hash"]);
    const path = `${dir}/${MANIFEST_FILE}`;
    const text = utf8(await readBytes(path, "manifest"));
    const problems = manifestProblems(text, minHash);
    if (problems.length) throw problemsError(path, problems);
    const canonical = new TextEncoder().encode(canonicalize(text));
    const cert = certificateDer(await readBytes(values.cert, "certificate"));
    const key = privateKey(await readBytes(values.key, "key"));
    const signature = signBytes(canonical, key, cert);
    const alg = signerCertificate(cert).alg;
    // The manifest first: a crash between the writes leaves an old signature that does not
    // verify (push says so), never a manifest that is signed but not the one checked.
    await writeAtomic(path, canonical);
    await writeAtomic(`${dir}/${SIGNATURE_FILE}`, signature);
    await writeAtomic(`${dir}/${CERT_FILE}`, cert);
    const { id } = computeImageId(alg, cert, canonical);
    if (c.json) {
      printJson({
        imageId: id,
        manifest: path,
        signature: `${dir}/${SIGNATURE_FILE}`,
        certificate: `${dir}/${CERT_FILE}`,
      });
    } else console.log(id);
    if (alg === "sha256") {
      console.error(
        "aconctl sign: note: the certificate is signed with sha256; acond refuses it unless " +
          "started with --min-hash sha256",
      );
    }
    return 0;
  },
});
