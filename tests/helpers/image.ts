/**
 * Manifests for tests: canonical JSON (checked against real `jq -jcS .`), a valid base manifest,
 * signing with a real-openssl Signer, and the expected Image ID computed with `openssl dgst`.
 */
import { openssl, type Signer } from "./pki.ts";

type HashAlg = "sha256" | "sha384" | "sha512";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * `jq -jcS .` in TypeScript: keys sorted (by code unit, as jq), compact, no trailing newline.
 * jq escapes DEL as \u007f, which JSON.stringify does not.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") {
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error("non-finite number");
    return JSON.stringify(v).replaceAll("\u007f", "\\u007f");
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(o[k])}`).join(",")}}`;
}

/** The same, produced by the real jq (for tests that check canonicalJson). */
export async function jqCanonical(v: unknown): Promise<string> {
  const p = new Deno.Command("jq", {
    args: ["-jcS", "."],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(v)));
  await w.close();
  const r = await p.output();
  if (!r.success) throw new Error(`jq: ${new TextDecoder().decode(r.stderr)}`);
  return new TextDecoder().decode(r.stdout);
}

/** A valid manifest with no layers. Overrides replace top-level fields; `undefined` removes one. */
export function baseManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const m: Record<string, unknown> = {
    aconSpecVersion: [1, 0],
    layers: [],
    aliases: {},
    entrypoint: ["/bin/sh"],
    env: [],
    workingDir: "/",
    uids: [],
    logFDs: [],
    writableFS: false,
    noRestart: false,
    signals: [],
    maxInstances: 1,
    policy: { accepts: [], rejectUnaccepted: false },
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete m[k];
    else m[k] = v;
  }
  return m;
}

export interface SignedManifest {
  /** Canonical JSON, exactly the bytes signed. */
  manifest: string;
  signature: Uint8Array;
  certificate: Uint8Array;
}

/** Canonicalises (unless a string is given, which is signed verbatim) and signs. */
export async function signedManifest(
  signer: Signer,
  manifest: Record<string, unknown> | string,
): Promise<SignedManifest> {
  const text = typeof manifest === "string" ? manifest : canonicalJson(manifest);
  return {
    manifest: text,
    signature: await signer.sign(text),
    certificate: signer.certificate,
  };
}

/** hex(alg(bytes)) with `openssl dgst` (independent of the daemon's hashing). */
export async function opensslHex(alg: string, bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const out = new TextDecoder().decode(await openssl(["dgst", `-${alg}`, "-r"], data));
  return out.split(" ")[0].trim();
}

/** The Image ID acond must return: alg/hex(alg(cert DER))/hex(alg(manifest bytes)). */
export async function expectedImageId(signer: Signer, manifest: string): Promise<string> {
  const alg = signer.hash;
  return `${alg}/${await opensslHex(alg, signer.certificate)}/${await opensslHex(alg, manifest)}`;
}

const H384 = "a".repeat(96);
const H256 = "b".repeat(64);
const L384 = `sha384/${H384}`;
const L256 = `sha256/${H256}`;

/**
 * Malformed manifests for validation tests (unit and integration): [name, overrides of
 * baseManifest() or raw text, expected message pattern, min hash].
 */
export const MALFORMED_MANIFESTS: [string, Record<string, unknown> | string, RegExp, HashAlg?][] = [
  ["not JSON", "{", /^Invalid manifest: not valid JSON/],
  [
    "duplicate top-level key",
    '{"aconSpecVersion":[1,0],"aliases":{},"policy":{},"signals":[],"workingDir":"/","workingDir":"/x"}',
    /key "workingDir" appears twice/,
  ],
  [
    "duplicate nested key",
    '{"aconSpecVersion":[1,0],"aliases":{},"policy":{"rejectUnaccepted":true,"rejectUnaccepted":false},"signals":[],"workingDir":"/"}',
    /key "rejectUnaccepted" appears twice/,
  ],
  [
    "duplicate escaped key",
    '{"aconSpecVersion":[1,0],"aliases":{},"policy":{},"signals":[],"workingDir":"/","_\\u0061":1,"_a":2}',
    /key "_a" appears twice/,
  ],
  ["an array", "[]", /^Invalid manifest: manifest must be a JSON object, not an array/],
  ["unknown field", { foo: 1 }, /unknown field "foo" \(vendor fields must start with "_"\)/],
  ["missing aliases", { aliases: undefined }, /lacks the required field "aliases"/],
  ["missing workingDir", { workingDir: undefined }, /lacks the required field "workingDir"/],
  ["missing signals", { signals: undefined }, /lacks the required field "signals"/],
  ["missing policy", { policy: undefined }, /lacks the required field "policy"/],
  ["missing version", { aconSpecVersion: undefined }, /"aconSpecVersion"/],
  ["version 2", { aconSpecVersion: [2, 0] }, /aconSpecVersion major version 2/],
  ["version one number", { aconSpecVersion: [1] }, /aconSpecVersion must be \[major, minor\]/],
  ["version string", { aconSpecVersion: "1.0" }, /aconSpecVersion must be an array, not a string/],
  ["layers not array", { layers: L384 }, /layers must be an array/],
  ["layer number", { layers: [1] }, /layers\[0\] must be a string, not a number/],
  ["layer bad ref", { layers: ["sha384/xyz"] }, /layers\[0\] "sha384\/xyz": digest must be 96/],
  ["layer dup", { layers: [L384, L384] }, /layers\[1\] duplicates/],
  [
    "sha256 layer by default",
    { layers: [L256] },
    /layers\[0\] uses sha256, weaker than the minimum sha384/,
  ],
  ["sha256 alias layer", { layers: [`signer/sha256/${H256}/x:1`] }, /layers\[0\] uses sha256/],
  [
    "layers without entrypoint",
    { layers: [L384], entrypoint: [] },
    /entrypoint must not be empty for an image with layers/,
  ],
  [
    "layers, entrypoint missing",
    { layers: [L384], entrypoint: undefined },
    /entrypoint must not be empty/,
  ],
  ["empty argv0", { entrypoint: [""] }, /entrypoint\[0\] must not be empty/],
  ["entrypoint NUL", { entrypoint: ["/bin/sh\0x"] }, /entrypoint\[0\] must not contain a NUL/],
  ["aliases array", { aliases: [] }, /aliases must be an object, not an array/],
  ["aliases images", { aliases: { images: {} } }, /aliases has unknown field "images"/],
  ["self key not .", { aliases: { self: { x: ["a:1"] } } }, /aliases.self has key "x": only "\."/],
  [
    "self alias slash",
    { aliases: { self: { ".": ["a/b"] } } },
    /aliases.self\.\.\[0\] \(alias name\) contains '\/'/,
  ],
  [
    "self alias dot",
    { aliases: { self: { ".": [".."] } } },
    /\(alias name\) "\.\." is not a valid file name/,
  ],
  ["self alias empty", { aliases: { self: { ".": [""] } } }, /\(alias name\) is empty/],
  ["self alias digest-like", { aliases: { self: { ".": [H384] } } }, /must not look like a digest/],
  [
    "self alias twice",
    { aliases: { self: { ".": ["a:1", "a:1"] } } },
    /alias "a:1" is defined twice/,
  ],
  ["self alias number", { aliases: { self: { ".": [1] } } }, /must be a string, not a number/],
  [
    "contents bad object",
    { aliases: { contents: { "sha384/zz": ["x"] } } },
    /aliases\.contents\.sha384\/zz "sha384\/zz": digest/,
  ],
  ["contents sha256 object", { aliases: { contents: { [L256]: ["x"] } } }, /uses sha256, weaker/],
  [
    "contents alias .",
    { aliases: { contents: { [L384]: ["."] } } },
    /\(alias name\) "\." is not a valid/,
  ],
  ["contents alias twice", {
    aliases: { contents: { [L384]: ["x"], [`sha512/${"c".repeat(128)}`]: ["x"] } },
  }, /alias "x" is defined twice/],
  ["workingDir number", { workingDir: 1 }, /workingDir must be a string, not a number/],
  ["env object", { env: {} }, /env must be an array, not an object/],
  ["uid 0", { uids: [0] }, /uids\[0\] must be between 1 and 4294967294, not 0/],
  ["uid overflow", { uids: [65534] }, /uids\[0\] must not be the overflow uid 65534/],
  ["uid negative", { uids: [-5] }, /uids\[0\] must be between/],
  ["uid fraction", { uids: [1.5] }, /uids\[0\] must be an integer, not 1.5/],
  ["uid string", { uids: ["1"] }, /uids\[0\] must be an integer, not a string/],
  ["uid dup", { uids: [7, 7] }, /uids\[1\] duplicates 7/],
  ["uid too big", { uids: [2 ** 32] }, /uids\[0\] must be between/],
  ["logFD negative", { logFDs: [-1] }, /logFDs\[0\] must be between/],
  ["writableFS string", { writableFS: "yes" }, /writableFS must be a boolean, not a string/],
  ["noRestart number", { noRestart: 1 }, /noRestart must be a boolean, not a number/],
  ["signal 65", { signals: [65] }, /signals\[0\] must be between -64 and 64, not 65/],
  ["signal -65", { signals: [-65] }, /signals\[0\] must be between/],
  ["signal 0 later", { signals: [15, 0] }, /signals\[1\] must not be 0/],
  ["signal dup", { signals: [15, 15] }, /signals\[1\] duplicates 15/],
  ["maxInstances negative", { maxInstances: -1 }, /maxInstances must be between 0/],
  ["maxInstances string", { maxInstances: "1" }, /maxInstances must be an integer/],
  ["policy unknown", { policy: { accept: [] } }, /policy has unknown field "accept"/],
  ["policy accepts string", { policy: { accepts: "x" } }, /policy.accepts must be an array/],
  [
    "rejectUnaccepted string",
    { policy: { rejectUnaccepted: "true" } },
    /policy.rejectUnaccepted must be a boolean/,
  ],
  [
    "sha384 layer under min sha512",
    { layers: [L384] },
    /layers\[0\] uses sha384, weaker than the minimum sha512/,
    "sha512",
  ],
];

const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));

/**
 * Manifests of a valid format that container Start would refuse on every run: AddManifest refuses
 * them before measuring. [name, overrides of baseManifest(), expected message pattern].
 */
export const UNSTARTABLE_MANIFESTS: [string, Record<string, unknown>, RegExp][] = [
  [
    "env rule without a name",
    { env: ["A=1", "=x"] },
    /^Format error of environment array in manifest\. env\[1\] "=x" has no variable name$/,
  ],
  [
    "empty env rule",
    { env: [""] },
    /^Format error of environment array in manifest\. env\[0\] "" has no variable name$/,
  ],
  [
    "env rule twice",
    { env: ["A=1", "B", "A=1"] },
    /^Format error of environment array in manifest\. env\[2\] "A=1" repeats an earlier rule$/,
  ],
  [
    "bare env rule twice",
    { env: ["B", "B"] },
    /^Format error of environment array in manifest\. env\[1\] "B" repeats an earlier rule$/,
  ],
  [
    "more forced env variables than the shim passes",
    { env: many(1025, (i) => `V${i}=x`) },
    /^Format error of environment array in manifest\. env gives 1025 variables a value that cannot be unset \(at most 1024 are passed\)$/,
  ],
  [
    "33 uids",
    { uids: many(33, (i) => 1000 + i) },
    /^Invalid manifest: uids has 33 entries \(at most 32\)$/,
  ],
  [
    "40 uids",
    { uids: many(40, (i) => 1000 + i) },
    /^Invalid manifest: uids has 40 entries \(at most 32\)$/,
  ],
  [
    "no layers, entrypoint missing",
    { entrypoint: undefined },
    /^Invalid entrypoint: entrypoint must not be empty/,
  ],
  ["no layers, entrypoint empty", { entrypoint: [] }, /^Invalid entrypoint: entrypoint must not/],
  [
    "257 entrypoint entries",
    { entrypoint: ["/bin/sh", ...many(256, (i) => `a${i}`)] },
    /^Invalid entrypoint: entrypoint has 257 entries \(at most 256\)$/,
  ],
];

/** At the limits of UNSTARTABLE_MANIFESTS, still valid (Start runs them). */
export const STARTABLE_AT_LIMITS: [string, Record<string, unknown>][] = [
  ["32 uids", { uids: many(32, (i) => 1000 + i) }],
  ["256 entrypoint entries", { entrypoint: ["/bin/sh", ...many(255, (i) => `a${i}`)] }],
  ["1024 forced env variables", { env: many(1024, (i) => `V${i}=x`) }],
  ["2000 env rules that may be unset", {
    env: [...many(1000, (i) => `B${i}`), ...many(1000, (i) => `U${i}=`)],
  }],
  ["1050 defaults that a caller may unset", {
    env: many(2100, (i) => i % 2 ? `K${i >> 1}=` : `K${i >> 1}=v`),
  }],
];
