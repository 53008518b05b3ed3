/**
 * What `aconctl report` and `aconctl verify` share: the evidence bundle (docs/attestation.md,
 * "Evidence bundle"), the verification flags and policy file, and the DCAP step for real quotes.
 */
import { type Command, UsageError } from "./command.ts";
import type { VerifyResult } from "../attest/verify.ts";
import { parseQuote } from "../attest/quote.ts";
import { TDREPORT_SIZE } from "../attest/tdreport.ts";
import { type Collateral, parseCollateral } from "../attest/dcap/collateral.ts";
import {
  type DcapVerdict,
  DEFAULT_ACCEPT,
  parseAcceptStatus,
  verifyDcap,
} from "../attest/dcap/verify.ts";
import { collateralFrom, parseAt, printDcap } from "./dcap.ts";

export const BUNDLE_FORMAT = "acond-evidence/1";

/** The evidence bundle `report --out` writes and `verify` reads (also `--json report`'s output). */
export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  createdAt: string;
  tee: string;
  canMeasure: boolean;
  teeNote: string;
  evidence: "quote" | "tdreport";
  nonce: string;
  data: string;
  rtmr3Log: string[];
  attestationData: string;
  simPublicKey?: string;
  collateral?: unknown;
}

/** parseArgs options of every verifying command. */
export const VERIFY_OPTIONS = {
  nonce: { type: "string" },
  "require-finalize": { type: "boolean" },
  "allow-sim": { type: "boolean" },
  "allow-debug": { type: "boolean" },
  "allow-unsigned": { type: "boolean" },
  collateral: { type: "string" },
  pccs: { type: "string" },
  at: { type: "string" },
  "accept-status": { type: "string" },
} as const;

export const VERIFY_USAGE =
  "[--nonce HEX] [--require-finalize] [--allow-sim] [--allow-debug] [--allow-unsigned] " +
  "[--collateral FILE | --pccs URL] [--at TIME] [--accept-status S,...]";

export const VERIFY_HELP = `Verification (docs/attestation.md, "A verifier's guide"):
  --nonce HEX              the requestor nonce (up to 32 hex digits; default: random for report,
                           the bundle's own for verify)
  --require-finalize       the event log must end the image set with Finalize
  --allow-sim              accept simulated / mock-TDX evidence (tests, dev mode)
  --allow-debug            accept a debug TD (ATTRIBUTES.DEBUG, or an interactive boot)
  --allow-unsigned         accept a bare TDREPORT from a real TEE (NOT signed: forgeable)
  --collateral FILE        DCAP collateral for a real quote (intel-pcs-v4 or dcap-qvl JSON)
  --pccs URL               fetch it from a PCCS / Intel PCS (report: saved into --out's bundle)
  --at TIME                check DCAP validity at TIME (ISO 8601 or epoch seconds; default now)
  --accept-status S,...    TCB statuses accepted (default UpToDate)`;

export interface VerifySettings {
  nonceHex?: string;
  requireFinalize: boolean;
  allowSim: boolean;
  allowDebug: boolean;
  allowUnsigned: boolean;
  collateral?: string;
  pccs?: string;
  at: Date;
  acceptStatus: string[];
}

// deno-lint-ignore no-explicit-any
export function verifySettings(values: Record<string, any>): VerifySettings {
  let acceptStatus = DEFAULT_ACCEPT;
  if (values["accept-status"] !== undefined) {
    try {
      acceptStatus = parseAcceptStatus(values["accept-status"]);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const flag = (k: string) => values[k] === true;
  return {
    nonceHex: values.nonce,
    requireFinalize: flag("require-finalize"),
    allowSim: flag("allow-sim"),
    allowDebug: flag("allow-debug"),
    allowUnsigned: flag("allow-unsigned"),
    collateral: values.collateral,
    pccs: values.pccs,
    at: parseAt(values.at),
    acceptStatus,
  };
}

/** Is this evidence a real DCAP quote (not a TDREPORT, not sim or mock)? */
export function isRealQuote(data: Uint8Array): boolean {
  if (data.length === TDREPORT_SIZE) return false;
  try {
    return parseQuote(data).origin === "dcap";
  } catch {
    return false;
  }
}

/**
 * The collateral for a real quote (--collateral, --pccs, else the bundle's) and the DCAP
 * verdict; undefined for other evidence or when there is no collateral (verifyReport then
 * says how to give it).
 */
export async function dcapStep(
  data: Uint8Array,
  s: VerifySettings,
  bundled?: unknown,
): Promise<{ verdict?: DcapVerdict; collateral?: Collateral }> {
  if (!isRealQuote(data)) return {};
  const q = parseQuote(data);
  let col = await collateralFrom(q, s.collateral, s.pccs);
  if (!col && bundled !== undefined) {
    try {
      col = parseCollateral(bundled);
    } catch (e) {
      throw new UsageError(`the bundle's collateral: ${(e as Error).message}`);
    }
  }
  if (!col) return {};
  return {
    collateral: col,
    verdict: verifyDcap(q, col.qvl, { at: s.at, acceptStatus: s.acceptStatus }),
  };
}

export function printVerdict(v: VerifyResult): void {
  console.log(`verification: ${v.ok ? "OK" : "FAILED"}`);
  console.log(`  evidence:  ${v.evidence} (${v.origin})`);
  console.log(`  RTMR3:     ${v.rtmr3}`);
  console.log(`  MRTD:      ${v.mrtd}`);
  console.log(
    `  TD attrs:  ${v.tdAttributes}${
      v.tdAttributes && (BigInt(`0x${v.tdAttributes}`) & 1n) ? " (DEBUG)" : ""
    }`,
  );
  if (v.dcap) printDcap(v.dcap, "  ");
  if (v.boot) {
    const b = v.boot;
    console.log(
      `  boot:      acond ${b.version}, tee ${b.tee}, pid1 ${b.pid1}, interactive ${b.interactive}, ` +
        `debug console ${b.debugConsole}, min hash ${b.minHash}`,
    );
  }
  console.log(`  images:    ${v.images.length === 0 ? "(none)" : ""}`);
  for (const id of v.images) console.log(`    ${id}`);
  console.log(`  finalized: ${v.finalized}`);
  for (const w of v.warnings) console.log(`  warning: ${w}`);
  for (const e of v.errors) console.log(`  ERROR: ${e}`);
}

/** Adds VERIFY_HELP to a command's help. */
export function withVerifyHelp(c: Command, intro: string): Command {
  return { ...c, help: `${intro}\n\n${VERIFY_HELP}` };
}
