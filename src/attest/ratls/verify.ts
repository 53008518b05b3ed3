/**
 * The verifier of an attested TLS certificate (what `aconctl --tcp` runs before it sends any
 * request): the certificate's evidence binds its own key, and the quote is judged as
 * `aconctl verify` judges a report (attest/verify.ts: the quote's signature or DCAP verdict,
 * RTMR3 replayed from the log carried in the certificate, the boot event, debug and simulated
 * evidence, the reference values), with REPORTDATA = SHA-256(claims) ‖ 0×32 in place of the
 * attestation JSON. Then the log must hold exactly one TlsKey event, for this key. Pure.
 *
 * What it does not prove: freshness. The certificate is made at boot; a fresh Report with the
 * caller's nonce proves the TD is alive now and what it holds (images, containers).
 */
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { toHex } from "../../digest_boot.ts";
import { type VerifyInput, verifyReport, type VerifyResult } from "../verify.ts";
import { parseCert, type ParsedCert } from "./cert.ts";
import {
  type CertContext,
  decodeContext,
  decodeEvidence,
  type Evidence,
  HASH_ALG_IDS,
  reportDataForClaims,
} from "./evidence.ts";
import { parseTlsKeyLine } from "./event.ts";

export interface AttestedCert {
  cert: ParsedCert;
  evidence: Evidence;
  context: CertContext;
}

/** Parses the certificate and its two extensions; throws with what is missing or wrong. */
export function parseAttestedCert(der: Uint8Array): AttestedCert {
  const cert = parseCert(der);
  if (!cert.evidence) {
    throw new Error(
      "the certificate carries no attestation evidence (extension 2.23.133.5.4.9): acond could " +
        "not get a quote at boot (its log says why), or this is not acond",
    );
  }
  if (cert.evidenceCritical) throw new Error("the evidence extension must not be critical");
  const evidence = decodeEvidence(cert.evidence);
  if (!evidence.context) throw new Error("the evidence carries no acond context (RTMR3 log)");
  return { cert, evidence, context: decodeContext(evidence.context) };
}

const HASHES = { sha256, sha384, sha512 } as const;

export type CertVerifyInput = Omit<
  VerifyInput,
  "data" | "rtmr3Log" | "attestationData" | "nonce" | "simPublicKey" | "reportData"
>;

export interface CertVerdict extends VerifyResult {
  /** Hex SHA-384 of the certificate's SubjectPublicKeyInfo. */
  spkiSha384: string;
}

export function verifyAttestedCert(a: AttestedCert, input: CertVerifyInput): CertVerdict {
  const v = verifyReport({
    ...input,
    // Which images and whether Finalize happened are the state now: a fresh Report's business.
    expect: { ...input.expect, images: undefined },
    requireFinalize: false,
    data: a.evidence.quote,
    rtmr3Log: a.context.rtmr3Log,
    attestationData: "",
    simPublicKey: a.context.simPublicKey,
    reportData: {
      expected: reportDataForClaims(a.evidence.claimsBuffer),
      what: "SHA-256 of the certificate's claims ‖ 32 zero bytes (the evidence binds another key)",
    },
  });
  const spkiSha384 = toHex(sha384(a.cert.spki));
  const alg = HASH_ALG_IDS[a.evidence.pubkeyHashAlg];
  if (!alg) {
    v.errors.push(`pubkey-hash algorithm ${a.evidence.pubkeyHashAlg} is not sha-256/384/512`);
  } else if (toHex(HASHES[alg](a.cert.spki)) !== toHex(a.evidence.pubkeyHash)) {
    v.errors.push(
      "the evidence's pubkey-hash is not the hash of this certificate's public key: the " +
        "evidence was made for another key",
    );
  }
  const keys = a.context.rtmr3Log.map(parseTlsKeyLine).filter((k) => k !== null);
  if (keys.length !== 1) {
    v.errors.push(`the event log holds ${keys.length} TlsKey events, expected 1`);
  } else if (keys[0] !== spkiSha384) {
    v.errors.push("the event log's TlsKey event is for another key than this certificate's");
  }
  v.ok = v.errors.length === 0;
  return { ...v, spkiSha384 };
}
