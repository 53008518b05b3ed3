/**
 * What `aconctl report` and `aconctl verify` share: the evidence bundle (docs/attestation.md,
 * "Evidence bundle"), the verification flags and policy file, and the DCAP step for real quotes.
 */
import { type Command, UsageError } from "./command.ts";
import type { Expectations, VerifyInput, VerifyResult } from "../attest/verify.ts";
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
  /** rtmr3Log as TCG2 crypto-agile records (hex; src/attest/tcg_log.ts). */
  rtmr3TcgLog?: string;
  /** The firmware's CC event log area and ACPI CCEL table (hex), on a TD that has them. */
  ccel?: string;
  ccelTable?: string;
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
  "allow-interactive": { type: "boolean" },
  "allow-unsigned": { type: "boolean" },
  collateral: { type: "string" },
  pccs: { type: "string" },
  at: { type: "string" },
  "accept-status": { type: "string" },
  "expect-image": { type: "string", multiple: true },
  "expect-mrtd": { type: "string" },
  "expect-rtmr": { type: "string", multiple: true },
  "expect-mrconfigid": { type: "string" },
  policy: { type: "string" },
} as const;

export const VERIFY_USAGE =
  "[--nonce HEX] [--collateral FILE | --pccs URL] [--expect-image ID]... [--policy FILE] " +
  "[other verification flags: --help]";

export const VERIFY_HELP = `Verification (docs/attestation.md, "A verifier's guide"):
  --nonce HEX              the requestor nonce (up to 32 hex digits; default: random for report,
                           the bundle's own for verify)
  --require-finalize       the event log must end the image set with Finalize
  --allow-sim              accept simulated / mock-TDX evidence (tests, dev mode)
  --allow-debug            accept a debug TD (ATTRIBUTES.DEBUG, or a boot with the debug console)
  --allow-interactive      accept a boot in interactive mode (container terminals: docs/console.md)
  --allow-unsigned         accept a bare TDREPORT from a real TEE (NOT signed: forgeable)
  --collateral FILE        DCAP collateral for a real quote (intel-pcs-v4 or dcap-qvl JSON)
  --pccs URL               fetch it from a PCCS / Intel PCS (report: saved into --out's bundle)
  --at TIME                check DCAP validity at TIME (ISO 8601 or epoch seconds; default now)
  --accept-status S,...    TCB statuses accepted (default UpToDate)
  --expect-image ID        the images measured must be exactly these (repeat; any order)
  --expect-mrtd HEX        MRTD (96 hex digits)
  --expect-rtmr N=HEX      RTMR N (0..3) (repeat)
  --expect-mrconfigid HEX  MRCONFIGID (up to 96 hex digits, zero-padded on the right)
  --policy FILE            JSON with the same: {"images":[…],"mrtd":"…","rtmr":{"2":"…"},
                           "mrConfigId":"…","requireFinalize":true,"allowDebug":false,
                           "allowInteractive":false,"allowSim":false,"allowUnsigned":false,
                           "acceptStatus":["UpToDate"]};
                           a flag given on the command line replaces the policy's value`;

export interface VerifySettings {
  nonceHex?: string;
  requireFinalize: boolean;
  allowSim: boolean;
  allowDebug: boolean;
  allowInteractive: boolean;
  allowUnsigned: boolean;
  collateral?: string;
  pccs?: string;
  at: Date;
  acceptStatus: string[];
  expect: Expectations;
}

function hex48(v: unknown, what: string, padRight = false): string {
  if (typeof v !== "string") throw new UsageError(`${what} must be a hex string`);
  let h = v.replace(/^0x/i, "").toLowerCase();
  if (!/^[0-9a-f]*$/.test(h) || h.length % 2 !== 0) {
    throw new UsageError(`${what}: "${v}" is not hex bytes`);
  }
  if (padRight && h.length > 0 && h.length < 96) h = h.padEnd(96, "0");
  if (h.length !== 96) throw new UsageError(`${what} must be 48 bytes (96 hex digits)`);
  return h;
}

function rtmrArg(s: string): [number, string] {
  const m = /^([0-3])=(.*)$/.exec(s);
  if (!m) throw new UsageError(`--expect-rtmr takes N=HEX with N in 0..3, got "${s}"`);
  return [Number(m[1]), hex48(m[2], `--expect-rtmr ${m[1]}`)];
}

const POLICY_KEYS = [
  "images",
  "mrtd",
  "rtmr",
  "mrConfigId",
  "requireFinalize",
  "allowDebug",
  "allowInteractive",
  "allowSim",
  "allowUnsigned",
  "acceptStatus",
];

/** Reads a policy file; unknown keys are refused (a typo must not weaken a policy). */
export function readPolicy(path: string): Partial<VerifySettings> {
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new UsageError(`--policy ${path}: ${(e as Error).message}`);
  }
  if (p === null || typeof p !== "object" || Array.isArray(p)) {
    throw new UsageError(`--policy ${path}: must be a JSON object`);
  }
  for (const k of Object.keys(p)) {
    if (!POLICY_KEYS.includes(k)) {
      throw new UsageError(
        `--policy ${path}: unknown key "${k}" (known: ${POLICY_KEYS.join(", ")})`,
      );
    }
  }
  const out: Partial<VerifySettings> = { expect: {} };
  const bool = (k: string) => {
    if (p[k] === undefined) return undefined;
    if (typeof p[k] !== "boolean") throw new UsageError(`--policy ${path}: ${k} must be a boolean`);
    return p[k] as boolean;
  };
  if (p.images !== undefined) {
    if (!Array.isArray(p.images) || !p.images.every((x) => typeof x === "string")) {
      throw new UsageError(`--policy ${path}: images must be a list of image IDs`);
    }
    out.expect!.images = p.images as string[];
  }
  if (p.mrtd !== undefined) out.expect!.mrTd = hex48(p.mrtd, `--policy ${path}: mrtd`);
  if (p.mrConfigId !== undefined) {
    out.expect!.mrConfigId = hex48(p.mrConfigId, `--policy ${path}: mrConfigId`, true);
  }
  if (p.rtmr !== undefined) {
    if (p.rtmr === null || typeof p.rtmr !== "object" || Array.isArray(p.rtmr)) {
      throw new UsageError(`--policy ${path}: rtmr must be an object {"N": "hex"}`);
    }
    const r: Record<number, string> = {};
    for (const [k, v] of Object.entries(p.rtmr)) {
      if (!/^[0-3]$/.test(k)) throw new UsageError(`--policy ${path}: rtmr index "${k}" not 0..3`);
      r[Number(k)] = hex48(v, `--policy ${path}: rtmr ${k}`);
    }
    out.expect!.rtmr = r;
  }
  if (p.acceptStatus !== undefined) {
    if (!Array.isArray(p.acceptStatus)) {
      throw new UsageError(`--policy ${path}: acceptStatus must be a list`);
    }
    try {
      out.acceptStatus = parseAcceptStatus(p.acceptStatus.join(","));
    } catch (e) {
      throw new UsageError(`--policy ${path}: ${(e as Error).message}`);
    }
  }
  for (
    const [k, key] of [
      ["requireFinalize", "requireFinalize"],
      ["allowDebug", "allowDebug"],
      ["allowInteractive", "allowInteractive"],
      ["allowSim", "allowSim"],
      ["allowUnsigned", "allowUnsigned"],
    ] as const
  ) {
    const b = bool(k);
    if (b !== undefined) out[key] = b;
  }
  return out;
}

// deno-lint-ignore no-explicit-any
export function verifySettings(values: Record<string, any>): VerifySettings {
  const pol = values.policy ? readPolicy(values.policy) : { expect: {} };
  const expect: Expectations = { ...pol.expect };
  if (values["expect-image"]) expect.images = values["expect-image"];
  if (values["expect-mrtd"] !== undefined) {
    expect.mrTd = hex48(values["expect-mrtd"], "--expect-mrtd");
  }
  if (values["expect-mrconfigid"] !== undefined) {
    expect.mrConfigId = hex48(values["expect-mrconfigid"], "--expect-mrconfigid", true);
  }
  if (values["expect-rtmr"]) {
    expect.rtmr = Object.fromEntries((values["expect-rtmr"] as string[]).map(rtmrArg));
  }
  let acceptStatus = pol.acceptStatus ?? DEFAULT_ACCEPT;
  if (values["accept-status"] !== undefined) {
    try {
      acceptStatus = parseAcceptStatus(values["accept-status"]);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const flag = (k: string, p: boolean | undefined) => values[k] === true || (p ?? false);
  return {
    nonceHex: values.nonce,
    requireFinalize: flag("require-finalize", pol.requireFinalize),
    allowSim: flag("allow-sim", pol.allowSim),
    allowDebug: flag("allow-debug", pol.allowDebug),
    allowInteractive: flag("allow-interactive", pol.allowInteractive),
    allowUnsigned: flag("allow-unsigned", pol.allowUnsigned),
    collateral: values.collateral,
    pccs: values.pccs,
    at: parseAt(values.at),
    acceptStatus,
    expect,
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

/** The verifier's input: the evidence given, and everything else from the settings. */
export function verifyInputOf(
  s: VerifySettings,
  evidence: Pick<
    VerifyInput,
    "data" | "rtmr3Log" | "attestationData" | "nonce" | "simPublicKey" | "dcap"
  >,
): VerifyInput {
  return {
    ...evidence,
    requireFinalize: s.requireFinalize,
    allowSim: s.allowSim,
    allowDebug: s.allowDebug,
    allowInteractive: s.allowInteractive,
    allowUnsigned: s.allowUnsigned,
    expect: s.expect,
  };
}
