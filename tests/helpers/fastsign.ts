/**
 * In-process signing with the keys of tests/helpers/pki.ts (made by the real openssl): the same
 * signatures acond verifies (Ed25519 raw; ECDSA as DER r,s), without an openssl process per
 * manifest. For suites that sign thousands of manifests (tests/stress/). Also the Image ID the
 * daemon must answer, computed with WebCrypto.
 */
import type { Signer } from "./pki.ts";

const enc = new TextEncoder();

export interface FastSigner {
  signer: Signer;
  sign(text: string): Promise<Uint8Array>;
  /** alg/hex(alg(cert DER))/hex(alg(manifest)), as AddManifest must answer. */
  imageId(manifest: string): Promise<string>;
}

const WEB_HASH = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" } as const;

export async function hexDigest(alg: keyof typeof WEB_HASH, data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest(WEB_HASH[alg], data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function pemBody(pem: string): Uint8Array<ArrayBuffer> {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** DER INTEGER of an unsigned big-endian number (leading zeros dropped, 0x00 if the top bit is set). */
function derInt(b: Uint8Array): number[] {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = [...b.subarray(i)];
  if (v[0] & 0x80) v.unshift(0);
  return [0x02, v.length, ...v];
}

/** IEEE P1363 r‖s (WebCrypto's ECDSA output) → DER SEQUENCE { r, s } (what openssl dgst gives). */
export function p1363ToDer(sig: Uint8Array): Uint8Array {
  const half = sig.length / 2;
  const body = [...derInt(sig.subarray(0, half)), ...derInt(sig.subarray(half))];
  const len = body.length < 0x80 ? [body.length] : [0x81, body.length];
  return new Uint8Array([0x30, ...len, ...body]);
}

/** A FastSigner for an ed25519 or ec-p256/p384/p521 Signer. */
export async function fastSigner(signer: Signer): Promise<FastSigner> {
  const der = pemBody(await Deno.readTextFile(signer.keyPath));
  const certHex = await hexDigest(signer.hash, signer.certificate);
  const imageId = async (m: string) =>
    `${signer.hash}/${certHex}/${await hexDigest(signer.hash, enc.encode(m))}`;
  if (signer.kind === "ed25519") {
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
    return {
      signer,
      imageId,
      sign: async (text) =>
        new Uint8Array(await crypto.subtle.sign("Ed25519", key, enc.encode(text))),
    };
  }
  const curve = { "ec-p256": "P-256", "ec-p384": "P-384", "ec-p521": "P-521" }[
    signer.kind as "ec-p256" | "ec-p384" | "ec-p521"
  ];
  if (!curve) throw new Error(`fastSigner: ${signer.kind} is not supported (use pki.ts sign)`);
  const key = await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "ECDSA", namedCurve: curve },
    false,
    ["sign"],
  );
  return {
    signer,
    imageId,
    sign: async (text) =>
      p1363ToDer(
        new Uint8Array(
          await crypto.subtle.sign(
            { name: "ECDSA", hash: WEB_HASH[signer.hash] },
            key,
            enc.encode(text),
          ),
        ),
      ),
  };
}
