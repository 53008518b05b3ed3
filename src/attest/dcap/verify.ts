/**
 * DCAP verification of a TDX quote, wrapping the dcap-qvl library (docs/dependencies.md):
 * the library checks the PCK chain to the root we pin, revocation by the CRLs, the QE report
 * signature and its binding of the attestation key, the quote signature, the QE identity and
 * TCB info (signatures, validity at `at`, QE policy), and computes the TCB status with advisory
 * IDs; crl.ts adds the CRLs' own signatures and validity. The status must then be one the caller
 * accepts (UpToDate by default). Pure apart from the clock passed in: no I/O.
 */
import { Buffer } from "node:buffer";
import { createHash, X509Certificate } from "node:crypto";
import { QuoteVerifier } from "@phala/dcap-qvl";
import { pckChainOfQuote, pemCerts, type QvlCollateral } from "./collateral.ts";
import { checkCrls } from "./crl.ts";
import { INTEL_SGX_ROOT_CA_DER } from "./root_ca.ts";
import type { Quote } from "../quote.ts";

export const TCB_STATUSES = [
  "UpToDate",
  "SWHardeningNeeded",
  "ConfigurationNeeded",
  "ConfigurationAndSWHardeningNeeded",
  "OutOfDate",
  "OutOfDateConfigurationNeeded",
] as const;

export const DEFAULT_ACCEPT = ["UpToDate"];

export interface DcapOptions {
  /** The time the collateral and certificates must be valid at. */
  at: Date;
  /** TCB statuses accepted (default: UpToDate). */
  acceptStatus?: readonly string[];
  /** The trust anchor; Intel's SGX Root CA unless a test says otherwise. */
  rootCaDer?: Uint8Array;
}

export interface Validity {
  issueDate: string;
  nextUpdate: string;
}

export interface DcapVerdict {
  /** Signature chain valid and the status accepted. */
  ok: boolean;
  /** The signature chain and collateral checks all passed (whatever the status). */
  chainValid: boolean;
  /** TCB status (null when verification failed before computing it). */
  status: string | null;
  advisoryIds: string[];
  acceptStatus: string[];
  at: string;
  rootCaSha256: string;
  errors: string[];
  collateral: {
    tcbInfo?: Validity & { fmspc: string; tcbEvaluationDataNumber: number };
    qeIdentity?: Validity;
    rootCaCrl?: { thisUpdate: string; nextUpdate?: string };
    pckCrl?: { thisUpdate: string; nextUpdate?: string };
  };
}

function causeChain(e: unknown): string {
  const parts: string[] = [];
  for (let c = e; c instanceof Error && parts.length < 4; c = c.cause) parts.push(c.message);
  return parts.join(": ") || String(e);
}

/** Verifies `q` (its bytes without padding) with `col`; never throws for a bad quote. */
export function verifyDcap(q: Quote, col: QvlCollateral, opts: DcapOptions): DcapVerdict {
  const root = opts.rootCaDer ?? INTEL_SGX_ROOT_CA_DER;
  const accept = [...(opts.acceptStatus ?? DEFAULT_ACCEPT)];
  const v: DcapVerdict = {
    ok: false,
    chainValid: false,
    status: null,
    advisoryIds: [],
    acceptStatus: accept,
    at: opts.at.toISOString(),
    rootCaSha256: createHash("sha256").update(root).digest("hex"),
    errors: [],
    collateral: {},
  };
  try {
    const t = JSON.parse(col.tcb_info);
    v.collateral.tcbInfo = {
      issueDate: t.issueDate,
      nextUpdate: t.nextUpdate,
      fmspc: t.fmspc,
      tcbEvaluationDataNumber: t.tcbEvaluationDataNumber,
    };
    const qe = JSON.parse(col.qe_identity);
    v.collateral.qeIdentity = { issueDate: qe.issueDate, nextUpdate: qe.nextUpdate };
  } catch (e) {
    v.errors.push(`collateral: ${causeChain(e)}`);
    return v;
  }
  if (q.origin !== "dcap") {
    v.errors.push(`not a DCAP quote (${q.origin} evidence)`);
    return v;
  }
  try {
    const r = QuoteVerifier.newWithRootCa(Buffer.from(root)).verify(
      Buffer.from(q.bytes),
      col,
      Math.floor(opts.at.getTime() / 1000),
    );
    v.status = r.status;
    v.advisoryIds = [...r.advisory_ids];
  } catch (e) {
    v.errors.push(`DCAP: ${causeChain(e)}`);
  }
  try {
    const chain = col.pck_certificate_chain ?? pckChainOfQuote(q);
    const leaf = pemCerts(chain)[0];
    if (!leaf) throw new Error("no PCK certificate");
    const crls = checkCrls(col, root, opts.at, new X509Certificate(Buffer.from(leaf)).issuer);
    const w = (c: { thisUpdate: Date; nextUpdate?: Date }) => ({
      thisUpdate: c.thisUpdate.toISOString(),
      ...(c.nextUpdate ? { nextUpdate: c.nextUpdate.toISOString() } : {}),
    });
    v.collateral.rootCaCrl = w(crls.rootCaCrl);
    v.collateral.pckCrl = w(crls.pckCrl);
  } catch (e) {
    v.errors.push(`CRL: ${causeChain(e)}`);
  }
  v.chainValid = v.errors.length === 0 && v.status !== null;
  if (v.chainValid && !accept.includes(v.status!)) {
    v.errors.push(
      `TCB status ${v.status} is not accepted (accepted: ${accept.join(", ")}; ` +
        `--accept-status widens)` +
        (v.advisoryIds.length ? `; advisories: ${v.advisoryIds.join(", ")}` : ""),
    );
  }
  v.ok = v.chainValid && v.errors.length === 0;
  return v;
}

/** Parses `--accept-status S,...`; throws on an unknown status name. */
export function parseAcceptStatus(s: string): string[] {
  const list = s.split(",").map((x) => x.trim()).filter((x) => x.length > 0);
  for (const x of list) {
    if (!(TCB_STATUSES as readonly string[]).includes(x)) {
      throw new Error(`unknown TCB status "${x}" (known: ${TCB_STATUSES.join(", ")})`);
    }
  }
  if (list.length === 0) throw new Error("--accept-status needs at least one status");
  return list;
}
