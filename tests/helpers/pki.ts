/**
 * Test signers made with the real `openssl` CLI: a fresh key and a self-signed DER certificate
 * per kind (cached within one test process), and signatures made by `openssl dgst -sign`
 * (`openssl pkeyutl -sign -rawin` for Ed25519, which signs the message itself).
 */
export type SignerKind = "ec-p256" | "ec-p384" | "ec-p521" | "rsa3072" | "ed25519";
export type SignerHash = "sha256" | "sha384" | "sha512";

export interface Signer {
  kind: SignerKind;
  /** The digest the certificate is signed with (and acond derives the IDs from). */
  hash: SignerHash;
  /** The self-signed certificate, DER (what AddManifest takes). */
  certificate: Uint8Array;
  /** The same certificate, PEM (for tests that check PEM is refused). */
  certificatePem: string;
  /** The private key file (PEM). */
  keyPath: string;
  /** Signs bytes the way acond verifies them (ECDSA DER r,s / RSA PKCS#1 v1.5 / Ed25519). */
  sign(bytes: Uint8Array | string): Promise<Uint8Array>;
}

let workDir: string | null = null;
async function dir(): Promise<string> {
  if (!workDir) {
    workDir = await Deno.makeTempDir({ prefix: "acond-pki-" });
    const d = workDir;
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(d, { recursive: true });
      } catch { /* already gone */ }
    });
  }
  return workDir;
}

/** Runs openssl; throws with its stderr on failure. */
export async function openssl(args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const p = new Deno.Command("openssl", {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = p.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const r = await p.output();
  if (!r.success) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
  return r.stdout;
}

function newKeyArgs(kind: SignerKind): string[] {
  switch (kind) {
    case "ec-p256":
      return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    case "ec-p384":
      return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
    case "ec-p521":
      return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"];
    case "rsa3072":
      return ["-newkey", "rsa:3072"];
    case "ed25519":
      return ["-newkey", "ed25519"];
  }
}

const cache = new Map<string, Promise<Signer>>();
let serial = 0;

/**
 * A signer of this kind whose certificate is signed with `hash` (default sha384; Ed25519 always
 * uses sha512 for the IDs and ignores `hash`). Cached per (kind, hash) unless `fresh` is set.
 */
export function makeSigner(
  kind: SignerKind,
  hash: SignerHash = "sha384",
  fresh = false,
): Promise<Signer> {
  const h: SignerHash = kind === "ed25519" ? "sha512" : hash;
  const key = `${kind}/${h}`;
  if (fresh) return create(kind, h);
  let s = cache.get(key);
  if (!s) {
    s = create(kind, h);
    cache.set(key, s);
  }
  return s;
}

async function create(kind: SignerKind, hash: SignerHash): Promise<Signer> {
  const d = await dir();
  const base = `${d}/${kind}-${hash}-${serial++}`;
  const keyPath = `${base}.key.pem`;
  const certPath = `${base}.cer`;
  await openssl([
    "req",
    "-x509",
    ...newKeyArgs(kind),
    "-nodes",
    "-keyout",
    keyPath,
    "-subj",
    `/CN=acond test ${kind} ${hash}`,
    "-days",
    "30",
    ...(kind === "ed25519" ? [] : [`-${hash}`]),
    "-outform",
    "DER",
    "-out",
    certPath,
  ]);
  const certificate = await Deno.readFile(certPath);
  const certificatePem = new TextDecoder().decode(
    await openssl(["x509", "-inform", "DER", "-in", certPath, "-outform", "PEM"]),
  );
  let n = 0;
  return {
    kind,
    hash,
    certificate,
    certificatePem,
    keyPath,
    async sign(bytes) {
      const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
      const msg = `${base}.msg${n++}`;
      await Deno.writeFile(msg, data);
      try {
        if (kind === "ed25519") {
          return await openssl(["pkeyutl", "-sign", "-inkey", keyPath, "-rawin", "-in", msg]);
        }
        return await openssl(["dgst", `-${hash}`, "-sign", keyPath, msg]);
      } finally {
        await Deno.remove(msg).catch(() => {});
      }
    },
  };
}
