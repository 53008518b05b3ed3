/**
 * Verifier: checks a Report response (TDREPORT or quote, RTMR3 log, attestation JSON) the way a
 * relying party should: RTMR3 replayed from our log only, REPORTDATA = sha384(JSON) ‖ 0×16, the
 * requestor nonce, the images measured vs. the images in the JSON, Finalize when required, and
 * the boot event (refusing debug TDs unless allowed), and the relying party's reference values
 * (images, MRTD, RTMRs, MRCONFIGID). Simulated quotes are checked against the simulator's public
 * key; a real DCAP quote's chain is checked by the caller (src/attest/dcap/verify.ts, which needs
 * Intel collateral) and its verdict passed in as `dcap`. Pure: no I/O.
 */
import { parseTdReport, TD_ATTR_DEBUG, TDREPORT_SIZE, type TdReportBody } from "./tdreport.ts";
import { parseQuote, type QuoteOrigin, verifySimQuote } from "./quote.ts";
import { ACON_DOMAIN, FINALIZE_LINE, INIT_LINE, replay } from "./replay.ts";
import { type BootFacts, parseBootEvent } from "./bootevent.ts";
import { ATTESTATION_API_VERSION, nonceBytes, reportDataFor } from "./attestation.ts";
import { toHex } from "../digest_boot.ts";
import { SIM_VALUES } from "./sim_values.ts";
import type { DcapVerdict } from "./dcap/verify.ts";

/** What a relying party expects (aconctl verify --expect-* / --policy); hex is lower case. */
export interface Expectations {
  /** The images measured must be exactly these (any order). */
  images?: readonly string[];
  mrTd?: string;
  /** RTMR index (0..3) → value. */
  rtmr?: Readonly<Record<number, string>>;
  mrConfigId?: string;
}

/** How a real DCAP quote is to be told to give its collateral. */
export const DCAP_NEEDS_COLLATERAL =
  "real DCAP quote, but its signature chain could not be checked: no collateral (give " +
  '--collateral FILE or --pccs URL; docs/attestation.md, "Collateral")';

export interface VerifyInput {
  /** The TDREPORT (1024 bytes) or the quote from the response. */
  data: Uint8Array;
  /** mrlog[3]: acond's event log. */
  rtmr3Log: readonly string[];
  /** The attestation JSON exactly as returned. */
  attestationData: string;
  /** The nonce the requester sent (checked when given). */
  nonce?: { lo: bigint; hi: bigint };
  requireFinalize?: boolean;
  /** Accept a debug TD: TD attributes bit 0, or a boot event that says debug console. */
  allowDebug?: boolean;
  /**
   * Accept a boot event that says interactive mode (container terminals reachable over the API
   * and the console: docs/console.md). Separate from allowDebug: neither implies the other.
   */
  allowInteractive?: boolean;
  /** Accept simulated evidence (dev mode and tests); never the default. */
  allowSim?: boolean;
  /** ReportResponse.sim_public_key: needed to check a simulated quote. */
  simPublicKey?: Uint8Array;
  /** The DCAP verdict on the quote (src/attest/dcap/verify.ts); required for a real quote. */
  dcap?: DcapVerdict;
  /** Accept a bare TDREPORT from a real TEE (its MAC cannot be checked off the platform). */
  allowUnsigned?: boolean;
  /** Reference values; each mismatch is an error of its own. */
  expect?: Expectations;
  /**
   * Evidence that binds something else than an attestation JSON (the attested TLS certificate,
   * attest/ratls/): REPORTDATA must be `expected`; attestationData and the nonce are not checked.
   */
  reportData?: { expected: Uint8Array; what: string };
}

export type EvidenceOrigin = "tdreport" | "sim-tdreport" | QuoteOrigin;

export interface VerifyResult {
  ok: boolean;
  errors: string[];
  warnings: string[];
  evidence: "tdreport" | "quote";
  origin: EvidenceOrigin;
  rtmr3: string;
  mrtd: string;
  tdAttributes: string;
  images: string[];
  finalized: boolean;
  boot: BootFacts | null;
  attestation: unknown;
  /** The DCAP verdict, when the evidence was a real quote and one was given. */
  dcap: DcapVerdict | null;
  /** MRCONFIGID and RTMR0..3 of the evidence (hex). */
  mrConfigId: string;
  rtmrs: string[];
}

function isByteArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length === 16 &&
    v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255);
}

function eqBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function verifyReport(input: VerifyInput): VerifyResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const res: VerifyResult = {
    ok: false,
    errors,
    warnings,
    evidence: input.data.length === TDREPORT_SIZE ? "tdreport" : "quote",
    origin: "dcap",
    rtmr3: "",
    mrtd: "",
    tdAttributes: "",
    images: [],
    finalized: false,
    boot: null,
    attestation: null,
    dcap: null,
    mrConfigId: "",
    rtmrs: [],
  };

  // 1. The evidence.
  let body: TdReportBody | null = null;
  try {
    if (res.evidence === "tdreport") {
      body = parseTdReport(input.data);
      const sim = eqBytes(body.mrSeam, SIM_VALUES.mrSeam);
      res.origin = sim ? "sim-tdreport" : "tdreport";
      if (!sim && !input.allowUnsigned) {
        errors.push(
          "a bare TDREPORT is not signed (its MAC can only be checked on the same platform, so " +
            "anyone can forge one): ask for a quote (--quote), or accept it with --allow-unsigned",
        );
      } else if (!sim) {
        warnings.push(
          "UNSIGNED EVIDENCE ACCEPTED (--allow-unsigned): this TDREPORT's MAC was not checked; " +
            "nothing proves it came from a TDX module",
        );
      }
    } else {
      const q = parseQuote(input.data);
      res.origin = q.origin;
      body = q.body;
      if (q.origin === "sim") {
        if (!input.simPublicKey || input.simPublicKey.length === 0) {
          errors.push("simulated quote, but no simulator public key to check it with");
        } else {
          verifySimQuote(input.data, input.simPublicKey);
        }
      } else if (q.origin === "mock") {
        warnings.push("quote from the mock TDX kernel module: test evidence only");
      } else if (!input.dcap) {
        errors.push(DCAP_NEEDS_COLLATERAL);
      } else {
        res.dcap = input.dcap;
        errors.push(...input.dcap.errors);
        if (!input.dcap.ok && input.dcap.errors.length === 0) errors.push("DCAP: not verified");
      }
    }
  } catch (e) {
    errors.push(`evidence: ${(e as Error).message}`);
  }
  const simulated = res.origin === "sim" || res.origin === "sim-tdreport";
  if (simulated && !input.allowSim) errors.push("the evidence is simulated (not TDX hardware)");
  if (res.origin === "mock" && !input.allowSim) errors.push("the evidence comes from a mock TDX");

  // 2. The event log, replayed from zero: only our log describes RTMR3.
  const log = input.rtmr3Log;
  if (log.length > 0 && log[0] !== INIT_LINE) errors.push("the event log does not start with INIT");
  if (log.slice(1).includes(INIT_LINE)) errors.push("the event log has a second INIT line");
  const replayed = toHex(replay(log));
  if (body) {
    res.rtmr3 = toHex(body.rtmr[3]);
    res.mrtd = toHex(body.mrTd);
    res.tdAttributes = body.tdAttributes.toString(16).padStart(16, "0");
    res.mrConfigId = toHex(body.mrConfigId);
    res.rtmrs = body.rtmr.map(toHex);
    if (replayed !== res.rtmr3) {
      errors.push(`RTMR3 ${res.rtmr3} does not match the replayed event log ${replayed}`);
    }
    if ((body.tdAttributes & TD_ATTR_DEBUG) !== 0n && !input.allowDebug) {
      errors.push("the TD is a debug TD (TD attributes bit 0)");
    }
    // 3. REPORTDATA binds the JSON (and through it both nonces), or what the caller says.
    if (input.reportData) {
      if (!eqBytes(body.reportData, input.reportData.expected)) {
        errors.push(`REPORTDATA is not ${input.reportData.what}`);
      }
    } else if (!eqBytes(body.reportData, reportDataFor(input.attestationData))) {
      errors.push("REPORTDATA is not sha384(attestation JSON) ‖ 16 zero bytes");
    }
  }

  const addPrefix = `${ACON_DOMAIN} AddManifest `;
  const finalizeAt = log.indexOf(FINALIZE_LINE);
  res.finalized = finalizeAt >= 0;
  res.images = log.filter((l) => l.startsWith(addPrefix)).map((l) => l.slice(addPrefix.length));
  if (finalizeAt >= 0 && log.slice(finalizeAt + 1).some((l) => l.startsWith(addPrefix))) {
    errors.push("an image was added after Finalize");
  }
  if (input.requireFinalize && !res.finalized) errors.push("the event log has no Finalize event");
  for (const l of log) {
    if (l.startsWith("acond Boot ")) {
      const b = parseBootEvent(l);
      if (!b) errors.push(`malformed boot event: ${l}`);
      else if (res.boot) errors.push("more than one boot event");
      else res.boot = b;
    }
  }
  if (!res.boot) {
    warnings.push("no acond boot event (an ACON daemon, or the TD could not measure)");
  } else {
    if (res.boot.interactive && !input.allowInteractive) {
      errors.push(
        "the boot event says interactive mode is on (container terminals can be attached to; " +
          "accept it with --allow-interactive)",
      );
    }
    if (res.boot.debugConsole && !input.allowDebug) {
      errors.push(
        "the boot event says the debug console is enabled (accept it with --allow-debug)",
      );
    }
    if ((res.boot.tee === "sim") !== simulated) {
      errors.push(`the boot event says TEE "${res.boot.tee}" but the evidence is ${res.origin}`);
    }
    // acond applies a launch configuration only when it is bound by MRCONFIGID: a boot event
    // that names another one did not come from acond's check.
    if (
      res.boot.launchConfig !== undefined && res.mrConfigId !== "" &&
      res.boot.launchConfig !== res.mrConfigId
    ) {
      errors.push(
        `the boot event's launch configuration ${res.boot.launchConfig} is not the TD's ` +
          `MRCONFIGID ${res.mrConfigId}`,
      );
    }
  }

  // 4. The JSON: shape, nonce, and the images it names vs. the images measured.
  if (!input.reportData) checkJson(input, res);
  // 5. The relying party's reference values.
  const ex = input.expect;
  if (ex && body) {
    const cmp = (name: string, got: string, want: string) => {
      if (got !== want.toLowerCase()) errors.push(`${name} is ${got}, expected ${want}`);
    };
    if (ex.mrTd !== undefined) cmp("MRTD", res.mrtd, ex.mrTd);
    if (ex.mrConfigId !== undefined) cmp("MRCONFIGID", res.mrConfigId, ex.mrConfigId);
    for (const [i, want] of Object.entries(ex.rtmr ?? {})) cmp(`RTMR${i}`, res.rtmrs[+i], want);
  }
  if (ex?.images) {
    const measured = new Set(res.images);
    const want = new Set(ex.images);
    for (const id of want) {
      if (!measured.has(id)) errors.push(`expected image ${id} was not measured`);
    }
    for (const id of measured) {
      if (!want.has(id)) errors.push(`image ${id} was measured but is not expected`);
    }
  }
  res.ok = errors.length === 0;
  return res;
}

/** Section 4 of verifyReport: the attestation JSON's shape, nonce and images. */
function checkJson(input: VerifyInput, res: VerifyResult): void {
  const errors = res.errors;
  try {
    const j = JSON.parse(input.attestationData);
    res.attestation = j;
    if (j === null || typeof j !== "object") throw new Error("not an object");
    if (j.api_version !== ATTESTATION_API_VERSION) {
      errors.push(`api_version is ${JSON.stringify(j.api_version)}, expected "1.0.0"`);
    }
    if (!isByteArray(j.requestor_nonce) || !isByteArray(j.acond_nonce)) {
      errors.push("requestor_nonce and acond_nonce must be arrays of 16 bytes");
    } else if (input.nonce) {
      const want = nonceBytes(input.nonce.lo, input.nonce.hi);
      if (!eqBytes(new Uint8Array(j.requestor_nonce), want)) {
        errors.push("requestor_nonce is not the nonce that was sent");
      }
    }
    const ad = j.attestation_data;
    if (ad === null || typeof ad !== "object" || Array.isArray(ad)) {
      errors.push("attestation_data must be an object");
    } else {
      const named = Object.keys(ad).sort();
      const measured = [...new Set(res.images)].sort();
      for (const id of named) {
        if (!measured.includes(id)) errors.push(`image ${id} is in the JSON but not measured`);
      }
      for (const id of measured) {
        if (!named.includes(id)) errors.push(`measured image ${id} is missing from the JSON`);
      }
    }
  } catch (e) {
    errors.push(`attestation JSON: ${(e as Error).message}`);
  }
}
