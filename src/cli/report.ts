/**
 * aconctl report / event-log / verify: get a TDREPORT or quote, save it as an evidence bundle,
 * verify it (src/attest/verify.ts; real quotes through src/attest/dcap/).
 */
import { parseArgs } from "node:util";
import { type Command, printJson, UsageError } from "./command.ts";
import { verifyReport } from "../attest/verify.ts";
import { nonceFromBytes } from "../attest/attestation.ts";
import { fromHex, toHex } from "../digest_boot.ts";
import { replay } from "../attest/replay.ts";
import { TDREPORT_SIZE } from "../attest/tdreport.ts";
import { parseQuote } from "../attest/quote.ts";
import {
  type Bundle,
  BUNDLE_FORMAT,
  dcapStep,
  printVerdict,
  VERIFY_OPTIONS,
  VERIFY_USAGE,
  verifyInputOf,
  verifySettings,
  withVerifyHelp,
} from "./evidence.ts";
import { fetchCollateral } from "../attest/dcap/collateral.ts";
import { encodeTcgLog, tcgLogLines } from "../attest/tcg_log.ts";
import { readCollateralFile } from "./dcap.ts";

function parseNonce(hex: string | undefined): Uint8Array {
  if (hex === undefined) return crypto.getRandomValues(new Uint8Array(16));
  const h = hex.replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{1,32}$/.test(h)) {
    throw new UsageError("--nonce takes up to 32 hex digits (16 bytes, as in requestor_nonce)");
  }
  return fromHex(h.padStart(32, "0"));
}

const report: Command = withVerifyHelp(
  {
    name: "report",
    usage: `report [--quote] [--verify] [--out FILE] ${VERIFY_USAGE}`,
    summary:
      "get a TDREPORT (or --quote) over a nonce; --out saves the evidence bundle; --verify checks it",
    async run(c) {
      const { values } = parseArgs({
        args: c.args,
        options: {
          ...VERIFY_OPTIONS,
          quote: { type: "boolean" },
          verify: { type: "boolean" },
          out: { type: "string" },
        },
        strict: true,
      });
      const s = verifySettings(values);
      const nonceBytes = parseNonce(s.nonceHex);
      const nonce = nonceFromBytes(nonceBytes);
      const r = await c.client().report({
        nonceLo: nonce.lo,
        nonceHi: nonce.hi,
        requestType: values.quote ? 1 : 0,
      });
      const log3 = r.mrlog[3]?.logs ?? [];
      // A real quote: its collateral (--collateral or fetched with --pccs) travels in the bundle.
      let collateral: unknown;
      if (r.data.length !== TDREPORT_SIZE && (s.collateral || s.pccs)) {
        const q = parseQuote(r.data);
        if (q.origin === "dcap") {
          if (s.pccs) {
            try {
              collateral = await fetchCollateral(s.pccs, q);
            } catch (e) {
              throw new Error(`fetching collateral from ${s.pccs}: ${(e as Error).message}`);
            }
          } else {
            const col = readCollateralFile(s.collateral!);
            collateral = col.pcs ?? col.qvl;
          }
        }
      }
      // The firmware's CCEL does not change after boot: any GetEventLog gives the same bytes.
      const fw = await c.client().getEventLog({});
      const bundle: Bundle = {
        format: BUNDLE_FORMAT,
        createdAt: new Date().toISOString(),
        tee: r.tee,
        canMeasure: r.canMeasure,
        teeNote: r.teeNote,
        evidence: r.data.length === TDREPORT_SIZE ? "tdreport" : "quote",
        nonce: toHex(nonceBytes),
        data: toHex(r.data),
        rtmr3Log: log3,
        rtmr3TcgLog: toHex(encodeTcgLog(log3)),
        ...(fw.ccel !== undefined ? { ccel: toHex(fw.ccel) } : {}),
        ...(fw.ccelTable !== undefined ? { ccelTable: toHex(fw.ccelTable) } : {}),
        attestationData: r.attestationData,
        ...(r.simPublicKey?.length ? { simPublicKey: toHex(r.simPublicKey) } : {}),
        ...(collateral !== undefined ? { collateral } : {}),
      };
      if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(bundle, null, 2) + "\n");
      let verdict = null;
      if (values.verify) {
        const { verdict: dcap } = await dcapStep(r.data, {
          ...s,
          collateral: undefined,
          pccs: undefined,
        }, collateral);
        verdict = verifyReport(verifyInputOf(s, {
          data: r.data,
          rtmr3Log: log3,
          attestationData: r.attestationData,
          nonce,
          simPublicKey: r.simPublicKey,
          dcap,
        }));
      }
      if (c.json) {
        printJson({ ...bundle, verification: verdict });
      } else {
        console.log(`tee: ${r.tee}${r.canMeasure ? "" : " (CANNOT MEASURE)"}: ${r.teeNote}`);
        console.log(`nonce: ${toHex(nonceBytes)}`);
        console.log(`${values.quote ? "quote" : "TDREPORT"}: ${r.data.length} bytes`);
        console.log(`attestation data: ${r.attestationData}`);
        console.log("RTMR3 log:");
        for (const l of log3) console.log(`  ${l}`);
        if (values.out) console.log(`evidence bundle written to ${values.out}`);
        if (verdict) printVerdict(verdict);
      }
      return verdict && !verdict.ok ? 1 : 0;
    },
  },
  "Asks acond for a TDREPORT (default) or a quote (--quote) bound to a nonce. --out FILE writes the\nevidence bundle (docs/attestation.md) that `aconctl verify FILE` checks offline; --verify checks\nit at once (a real quote needs --collateral or --pccs).",
);

const eventLog: Command = {
  name: "event-log",
  usage: "event-log [--tcg FILE] [--ccel FILE]",
  summary: "acond's RTMR3 event log and the RTMR3 value, with a replay check",
  help:
    "Prints acond's RTMR3 event log, RTMR3 and the replay of the log. --tcg FILE writes the same\n" +
    "events as a binary TCG2 crypto-agile log (EV_EVENT_TAG records, MR index 4 = RTMR3;\n" +
    'docs/attestation.md, "The TCG form"), which tpm2_eventlog reads; --ccel FILE writes the\n' +
    "firmware's CC event log (RTMR0-2) when the TD has one (exit 1 if it has none).",
  async run(c) {
    const { values, positionals } = parseArgs({
      args: c.args,
      options: { tcg: { type: "string" }, ccel: { type: "string" } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length > 0) throw new UsageError("event-log takes no arguments");
    const r = await c.client().getEventLog({});
    const replayed = toHex(replay(r.lines));
    const rtmr3 = toHex(r.rtmr3);
    // The TCG form must say what the lines say (a daemon bug must not reach a verifier).
    let tcgMatches: boolean;
    try {
      const t = tcgLogLines(r.tcgLog);
      tcgMatches = t.length === r.lines.length && t.every((l, i) => l === r.lines[i]);
    } catch {
      tcgMatches = false;
    }
    if (values.tcg !== undefined) await Deno.writeFile(values.tcg, r.tcgLog);
    if (values.ccel !== undefined && r.ccel !== undefined) {
      await Deno.writeFile(values.ccel, r.ccel);
    }
    const ok = replayed === rtmr3 && tcgMatches &&
      (values.ccel === undefined || r.ccel !== undefined);
    if (c.json) {
      printJson({
        tee: r.tee,
        rtmr3,
        replayed,
        matches: replayed === rtmr3,
        lines: r.lines,
        tcgLog: toHex(r.tcgLog),
        tcgMatches,
        ...(r.ccel !== undefined ? { ccel: toHex(r.ccel) } : {}),
        ...(r.ccelTable !== undefined ? { ccelTable: toHex(r.ccelTable) } : {}),
      });
    } else {
      for (const l of r.lines) console.log(l);
      console.log(`RTMR3 (${r.tee}): ${rtmr3}`);
      console.log(`replayed:   ${replayed} ${replayed === rtmr3 ? "(matches)" : "(MISMATCH)"}`);
      if (!tcgMatches) console.log("the TCG form does NOT match the lines");
      if (values.tcg !== undefined) {
        console.log(`TCG log (${r.tcgLog.length} bytes) written to ${values.tcg}`);
      }
      if (r.ccel !== undefined) {
        console.log(
          `firmware CCEL: ${r.ccel.length} bytes${
            values.ccel ? `, written to ${values.ccel}` : ""
          }`,
        );
      } else console.log("firmware CCEL: none (not a TD, or no ACPI CCEL table)");
    }
    return ok ? 0 : 1;
  },
};

const verifyFile: Command = withVerifyHelp(
  {
    name: "verify",
    usage: `verify FILE ${VERIFY_USAGE}`,
    summary: "verify an evidence bundle (report --out, or --json report output) offline",
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: VERIFY_OPTIONS,
        allowPositionals: true,
        strict: true,
      });
      if (positionals.length !== 1) throw new UsageError("verify takes one FILE");
      const s = verifySettings(values);
      let saved;
      try {
        saved = JSON.parse(Deno.readTextFileSync(positionals[0]));
      } catch (e) {
        throw new UsageError(`cannot read ${positionals[0]}: ${(e as Error).message}`);
      }
      if (saved === null || typeof saved !== "object") {
        throw new UsageError(`${positionals[0]} is not an evidence bundle`);
      }
      if (saved.format !== undefined && saved.format !== BUNDLE_FORMAT) {
        throw new UsageError(
          `${positionals[0]}: bundle format ${
            JSON.stringify(saved.format)
          } is not ${BUNDLE_FORMAT}`,
        );
      }
      const hex = (v: unknown, what: string) => {
        if (typeof v !== "string") throw new UsageError(`${what} missing from ${positionals[0]}`);
        return fromHex(v);
      };
      // The log as lines, or in the TCG form only (rtmr3TcgLog); when both, they must agree.
      let tcgLines: string[] | undefined;
      if (saved.rtmr3TcgLog !== undefined) {
        try {
          tcgLines = tcgLogLines(hex(saved.rtmr3TcgLog, "rtmr3TcgLog"));
        } catch (e) {
          throw new UsageError(`rtmr3TcgLog in ${positionals[0]}: ${(e as Error).message}`);
        }
      }
      const lines = saved.rtmr3Log ?? tcgLines;
      if (!Array.isArray(lines) || !lines.every((l) => typeof l === "string")) {
        throw new UsageError(`rtmr3Log missing from ${positionals[0]}`);
      }
      // Evidence that contradicts itself fails verification (exit 1), as any tampering does.
      const formsDisagree = tcgLines !== undefined &&
        (tcgLines.length !== lines.length || tcgLines.some((l, i) => l !== lines[i]));
      if (typeof saved.attestationData !== "string") {
        throw new UsageError(`attestationData missing from ${positionals[0]}`);
      }
      // The nonce to hold the report to is the one given here (else the one saved with it).
      let nonceHex = s.nonceHex;
      if (nonceHex === undefined) {
        hex(saved.nonce, "nonce");
        nonceHex = saved.nonce as string;
      }
      const nonce = nonceFromBytes(parseNonce(nonceHex));
      const data = hex(saved.data, "data");
      const { verdict: dcap } = await dcapStep(data, s, saved.collateral);
      const v = verifyReport(verifyInputOf(s, {
        data,
        rtmr3Log: lines,
        attestationData: saved.attestationData,
        nonce,
        simPublicKey: saved.simPublicKey ? hex(saved.simPublicKey, "simPublicKey") : undefined,
        dcap,
      }));
      if (formsDisagree) {
        v.errors.unshift("rtmr3TcgLog and rtmr3Log disagree (the bundle's two forms of the log)");
        v.ok = false;
      }
      if (c.json) printJson(v);
      else printVerdict(v);
      return v.ok ? 0 : 1;
    },
  },
  "Checks an evidence bundle offline (no daemon needed): the evidence (a real quote's DCAP chain\nwith the bundle's collateral, --collateral or --pccs), the RTMR3 log replay, REPORTDATA, the\nnonce, the images, the boot event, and the reference values given.",
);

export const reportCommands: Command[] = [report, eventLog, verifyFile];
