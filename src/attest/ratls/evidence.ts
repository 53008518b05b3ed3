/**
 * The attested certificate's evidence, in the interoperable RA-TLS encoding (CCC-Attestation
 * interoperable-ra-tls, "X.509 Cert and Evidence Formats" and "SGX / TDX Evidence Tags"): the
 * X.509 extension tcg-dice-conceptual-message-wrapper (2.23.133.5.4.9, non-critical) holds the
 * tagged CBOR
 *
 *   0x1a7501([ quote, claims-buffer ])          tag "Intel TEE quote" (rats01)
 *   claims-buffer = CBOR { "pubkey-hash": bstr(CBOR [7, SHA-384(SPKI DER)]),
 *                          "acond-context": bstr(CBOR context) }
 *   quote REPORTDATA = SHA-256(claims-buffer) ‖ 32 zero bytes
 *
 * (hash-alg-id 7 is sha-384 in the IANA named-information registry). This REPORTDATA cannot be
 * the one of a Report (SHA-384(attestation JSON) ‖ 16 zero bytes, attest/attestation.ts): equal
 * values would need a SHA-384 output whose bytes 32..47 are all zero (2^-128), so no caller of
 * Report can obtain a quote that passes for a certificate's. That is the domain separation, with
 * the claims map's "pubkey-hash" key inside the hashed bytes.
 *
 * The claims carry one claim of acond's besides the spec's, "acond-context": what a verifier needs
 * to judge the quote before it sends anything, the RTMR3 event log at the time of the quote (the
 * boot event, and the TlsKey event binding this key) and, for the simulator, its public key:
 * CBOR { "rtmr3-log": [text...], "sim-public-key"?: bstr }. Inside the claims it is bound by
 * REPORTDATA too. (It was once an extension of its own under a UUID OID, 2.25.<128-bit arc>: Go's
 * crypto/x509, hence aconcli and grpc-go, refuses a certificate with an OID arc above 2^31.)
 * Verifiers that know only the spec's claims ignore it. Pure: no I/O.
 */
import { CBORTag, decodeCBOR, encodeCBOR } from "@levischuck/tiny-cbor";
import { sha256 } from "@noble/hashes/sha2.js";

/** tcg-dice-conceptual-message-wrapper (earlier drafts: tcg-dice-tagged-evidence). */
export const EVIDENCE_OID = "2.23.133.5.4.9";
/** CBOR tag of an Intel TEE (SGX or TDX ECDSA) quote in the interoperable format. */
export const TAG_INTEL_TEE_QUOTE = 0x1a7501;
/** IANA named-information hash algorithm ids the verifier accepts. */
export const HASH_ALG_IDS: Readonly<Record<number, "sha256" | "sha384" | "sha512">> = {
  1: "sha256",
  7: "sha384",
  8: "sha512",
};
export const SHA384_ID = 7;

/** Longest event log carried in a certificate (lines; the boot log holds a handful). */
export const MAX_CONTEXT_LINES = 64;

export interface Evidence {
  quote: Uint8Array;
  /** The encoded claims map, exactly as hashed into REPORTDATA. */
  claimsBuffer: Uint8Array;
  /** pubkey-hash: [alg id, hash]. */
  pubkeyHashAlg: number;
  pubkeyHash: Uint8Array;
  nonce?: Uint8Array;
  /** acond's context claim (CBOR), when present. */
  context?: Uint8Array;
}

export interface CertContext {
  rtmr3Log: string[];
  simPublicKey?: Uint8Array;
}

const bytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/**
 * The claims buffer binding a public key (its SubjectPublicKeyInfo's SHA-384) and, when given,
 * acond's context (encodeContext).
 */
export function claimsBufferFor(spkiSha384: Uint8Array, context?: Uint8Array): Uint8Array {
  if (spkiSha384.length !== 48) throw new Error("the SPKI hash is a SHA-384 (48 bytes)");
  const hashEntry = encodeCBOR([SHA384_ID, spkiSha384]);
  const m = new Map<string, Uint8Array>([["pubkey-hash", hashEntry]]);
  if (context) m.set("acond-context", context);
  return encodeCBOR(m);
}

/** REPORTDATA of a certificate's quote: SHA-256(claims buffer) ‖ 32 zero bytes. */
export function reportDataForClaims(claimsBuffer: Uint8Array): Uint8Array<ArrayBuffer> {
  const rd = new Uint8Array(64);
  rd.set(sha256(claimsBuffer));
  return rd;
}

/** The evidence extension's value (the tagged CBOR, not yet wrapped in an OCTET STRING). */
export function encodeEvidence(quote: Uint8Array, claimsBuffer: Uint8Array): Uint8Array {
  return encodeCBOR(new CBORTag(TAG_INTEL_TEE_QUOTE, [quote, claimsBuffer]));
}

function decodeStrict(b: Uint8Array, what: string): unknown {
  try {
    return decodeCBOR(new DataView(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    throw new Error(`${what} is not well-formed CBOR (${(e as Error).message})`);
  }
}

/** Parses the evidence extension; throws with what is wrong. */
export function decodeEvidence(ext: Uint8Array): Evidence {
  const top = decodeStrict(ext, "the evidence extension");
  if (!(top instanceof CBORTag)) throw new Error("the evidence extension is not tagged CBOR");
  if (Number(top.tag) !== TAG_INTEL_TEE_QUOTE) {
    throw new Error(
      `evidence tag 0x${top.tag.toString(16)} is not an Intel TEE quote (0x1a7501)`,
    );
  }
  const arr = top.value;
  if (!Array.isArray(arr) || arr.length !== 2 || !bytes(arr[0]) || !bytes(arr[1])) {
    throw new Error("the evidence is not [quote, claims-buffer] (two byte strings)");
  }
  const claims = decodeStrict(arr[1], "the claims buffer");
  if (!(claims instanceof Map)) throw new Error("the claims buffer is not a CBOR map");
  const ph = claims.get("pubkey-hash");
  if (!bytes(ph)) throw new Error('the claims have no "pubkey-hash" byte string');
  const entry = decodeStrict(ph, "pubkey-hash");
  if (
    !Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== "number" || !bytes(entry[1])
  ) {
    throw new Error("pubkey-hash is not a hash-entry [alg, hash]");
  }
  const nonce = claims.get("nonce");
  if (nonce !== undefined && !bytes(nonce)) throw new Error("the nonce claim is not a byte string");
  const context = claims.get("acond-context");
  if (context !== undefined && !bytes(context)) {
    throw new Error('the "acond-context" claim is not a byte string');
  }
  return {
    quote: arr[0],
    claimsBuffer: arr[1],
    pubkeyHashAlg: entry[0],
    pubkeyHash: entry[1],
    ...(nonce !== undefined ? { nonce } : {}),
    ...(context !== undefined ? { context } : {}),
  };
}

export function encodeContext(c: CertContext): Uint8Array {
  const m = new Map<string, unknown>([["rtmr3-log", [...c.rtmr3Log]]]);
  if (c.simPublicKey) m.set("sim-public-key", c.simPublicKey);
  return encodeCBOR(m as Map<string, never>);
}

export function decodeContext(ext: Uint8Array): CertContext {
  const m = decodeStrict(ext, "acond's context claim");
  if (!(m instanceof Map)) throw new Error("acond's context claim is not a CBOR map");
  const log = m.get("rtmr3-log");
  if (
    !Array.isArray(log) || log.length > MAX_CONTEXT_LINES ||
    !log.every((l) => typeof l === "string")
  ) {
    throw new Error(`the context's rtmr3-log is not a list of at most ${MAX_CONTEXT_LINES} lines`);
  }
  const sim = m.get("sim-public-key");
  if (sim !== undefined && !bytes(sim)) throw new Error("sim-public-key is not a byte string");
  return { rtmr3Log: log, ...(sim ? { simPublicKey: sim } : {}) };
}
