/** aconctl verify-quote: a DCAP TDX quote's fields and, with collateral, its full DCAP chain. */
import { parseArgs } from "node:util";
import { type Command, printJson, UsageError } from "./command.ts";
import { type QuoteFields, quoteFields, readQuote } from "../attest/dcap/parse.ts";
import { type Collateral, fetchCollateral, parseCollateral } from "../attest/dcap/collateral.ts";
import {
  type DcapVerdict,
  DEFAULT_ACCEPT,
  parseAcceptStatus,
  verifyDcap,
} from "../attest/dcap/verify.ts";
import type { Quote } from "../attest/quote.ts";

/** `--at`: an ISO 8601 time or seconds since the epoch; default now. */
export function parseAt(s: string | undefined): Date {
  if (s === undefined) return new Date();
  const d = /^\d+$/.test(s) ? new Date(Number(s) * 1000) : new Date(s);
  if (Number.isNaN(d.getTime())) {
    throw new UsageError(`--at takes an ISO 8601 time (2025-06-20T00:00:00Z) or epoch seconds`);
  }
  return d;
}

export function readCollateralFile(path: string): Collateral {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return parseCollateral(text);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

/** Collateral from --collateral FILE or --pccs URL (not both), or undefined. */
export async function collateralFrom(
  q: Quote,
  file: string | undefined,
  pccs: string | undefined,
): Promise<Collateral | undefined> {
  if (file && pccs) throw new UsageError("give --collateral or --pccs, not both");
  if (file) return readCollateralFile(file);
  if (pccs) {
    try {
      return parseCollateral(await fetchCollateral(pccs, q));
    } catch (e) {
      throw new Error(`fetching collateral from ${pccs}: ${(e as Error).message}`);
    }
  }
  return undefined;
}

export const NO_COLLATERAL =
  "the DCAP signature chain was not checked: give the collateral with --collateral FILE " +
  "(Intel PCS/PCCS JSON, docs/attestation.md) or --pccs URL";

export function printFields(f: QuoteFields, indent = ""): void {
  const a = f.tdAttributes;
  const flags = [
    a.debug ? "DEBUG (the host can read and change the TD)" : "not debug",
    a.septVeDisable ? "SEPT_VE_DISABLE" : "",
    a.pks ? "PKS" : "",
    a.kl ? "KL" : "",
    a.perfmon ? "PERFMON" : "",
    a.otherBits.length ? `other bits ${a.otherBits.join(",")}` : "",
  ].filter((x) => x).join(", ");
  const rows: [string, string][] = [
    [
      "quote",
      `v${f.version}, ${f.body} body, ${f.size} bytes` +
      (f.padding ? ` (+${f.padding} zero padding ignored)` : ""),
    ],
    ["att. key", f.attestationKeyType],
    ["TEE", f.teeType],
    ["QE vendor", f.qeVendorId],
    ["QE SVN", `${f.qeSvn}, PCE SVN ${f.pceSvn}`],
    ["TEE TCB SVN", f.teeTcbSvn],
    ...(f.teeTcbSvn2 ? [["TEE TCB SVN2", f.teeTcbSvn2] as [string, string]] : []),
    ["MRSEAM", f.mrSeam],
    ["MRSIGNERSEAM", f.mrSignerSeam],
    ["SEAM attrs", f.seamAttributes],
    ["ATTRIBUTES", `${a.hex}: ${flags}`],
    ["XFAM", f.xfam],
    ["MRTD", f.mrTd],
    ["MRCONFIGID", f.mrConfigId],
    ["MROWNER", f.mrOwner],
    ["MROWNERCONFIG", f.mrOwnerConfig],
    ["RTMR0", f.rtmr0],
    ["RTMR1", f.rtmr1],
    ["RTMR2", f.rtmr2],
    ["RTMR3", f.rtmr3],
    ["REPORTDATA", f.reportData],
    ...(f.mrServiceTd ? [["MRSERVICETD", f.mrServiceTd] as [string, string]] : []),
  ];
  for (const [k, v] of rows) console.log(`${indent}${(k + ":").padEnd(15)}${v}`);
}

export function printDcap(v: DcapVerdict, indent = ""): void {
  console.log(`${indent}DCAP: ${v.ok ? "OK" : "FAILED"} at ${v.at}`);
  console.log(
    `${indent}  TCB status:  ${v.status ?? "(none)"}` +
      (v.advisoryIds.length ? `; advisories ${v.advisoryIds.join(", ")}` : ""),
  );
  console.log(`${indent}  accepted:    ${v.acceptStatus.join(", ")}`);
  const c = v.collateral;
  if (c.tcbInfo) {
    console.log(
      `${indent}  TCB info:    FMSPC ${c.tcbInfo.fmspc}, eval #${c.tcbInfo.tcbEvaluationDataNumber}, ` +
        `${c.tcbInfo.issueDate} .. ${c.tcbInfo.nextUpdate}`,
    );
  }
  if (c.qeIdentity) {
    console.log(`${indent}  QE identity: ${c.qeIdentity.issueDate} .. ${c.qeIdentity.nextUpdate}`);
  }
  console.log(`${indent}  root CA:     Intel SGX Root CA, sha256 ${v.rootCaSha256}`);
  for (const e of v.errors) console.log(`${indent}  ERROR: ${e}`);
}

const HELP = `Reads a TDX quote (DCAP v4 or v5, TD 1.0 or TD 1.5 body; binary or hex; trailing zero
padding accepted) and prints its fields. With collateral it verifies the whole DCAP chain: the PCK
certificate chain up to Intel's SGX Root CA (pinned in aconctl), the root CA and PCK CRLs (their
signatures, validity and revocations), the QE report signature and its binding of the
attestation key, the quote signature, the QE identity and TCB info (signatures, validity at
--at), and the TCB status with its advisory IDs.

  --collateral FILE    collateral JSON: Intel PCS/PCCS shape ({"format":"intel-pcs-v4",…}) or
                       dcap-qvl's flat shape ({"tcb_info":…}); docs/attestation.md
  --pccs URL           fetch the collateral from a PCCS or Intel's PCS (v4 API paths)
  --at TIME            check validity at TIME (ISO 8601 or epoch seconds; default now)
  --accept-status S,…  TCB statuses accepted (default UpToDate), e.g. UpToDate,SWHardeningNeeded
  --json               machine-readable output

Exit status: 0 only for a fully valid quote whose TCB status is accepted; 1 otherwise (also
when no collateral was given: the fields are printed, the chain is not checked); 2 on usage.`;

const verifyQuote: Command = {
  name: "verify-quote",
  usage:
    "verify-quote FILE [--collateral FILE | --pccs URL] [--at TIME] [--accept-status S,...] [--json]",
  summary: "a TDX DCAP quote's fields; with collateral, its whole DCAP chain and TCB status",
  help: HELP,
  async run(c) {
    const { values, positionals } = parseArgs({
      args: c.args,
      options: {
        collateral: { type: "string" },
        pccs: { type: "string" },
        at: { type: "string" },
        "accept-status": { type: "string" },
      },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw new UsageError("verify-quote takes one FILE");
    const at = parseAt(values.at);
    let accept = DEFAULT_ACCEPT;
    if (values["accept-status"] !== undefined) {
      try {
        accept = parseAcceptStatus(values["accept-status"]);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(positionals[0]);
    } catch (e) {
      throw new UsageError(`cannot read ${positionals[0]}: ${(e as Error).message}`);
    }
    let q: Quote;
    try {
      q = readQuote(bytes);
    } catch (e) {
      console.error(`aconctl verify-quote: ${positionals[0]}: ${(e as Error).message}`);
      return 1;
    }
    const fields = quoteFields(q);
    const col = await collateralFrom(q, values.collateral, values.pccs);
    const verdict = col ? verifyDcap(q, col.qvl, { at, acceptStatus: accept }) : null;
    if (c.json) {
      printJson({
        quote: fields,
        collateralShape: col?.shape ?? null,
        dcap: verdict,
        ok: verdict?.ok ?? false,
        ...(verdict ? {} : { error: NO_COLLATERAL }),
      });
    } else {
      printFields(fields);
      if (verdict) printDcap(verdict);
      else console.log(`DCAP: NOT CHECKED: ${NO_COLLATERAL}`);
    }
    return verdict?.ok ? 0 : 1;
  },
};

export const dcapCommands: Command[] = [verifyQuote];
