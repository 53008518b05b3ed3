/** aconctl report / event-log: get a TDREPORT or quote, optionally verify it (src/attest/verify.ts). */
import { parseArgs } from "node:util";
import { type Command, printJson, UsageError } from "./command.ts";
import { verifyReport, type VerifyResult } from "../attest/verify.ts";
import { nonceFromBytes } from "../attest/attestation.ts";
import { fromHex, toHex } from "../digest_boot.ts";
import { replay } from "../attest/replay.ts";

function parseNonce(hex: string | undefined): Uint8Array {
  if (hex === undefined) return crypto.getRandomValues(new Uint8Array(16));
  const h = hex.replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{1,32}$/.test(h)) {
    throw new UsageError("--nonce takes up to 32 hex digits (16 bytes, as in requestor_nonce)");
  }
  return fromHex(h.padStart(32, "0"));
}

function printVerdict(v: VerifyResult): void {
  console.log(`verification: ${v.ok ? "OK" : "FAILED"}`);
  console.log(`  evidence:  ${v.evidence} (${v.origin})`);
  console.log(`  RTMR3:     ${v.rtmr3}`);
  console.log(`  MRTD:      ${v.mrtd}`);
  console.log(`  TD attrs:  ${v.tdAttributes}`);
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

const report: Command = {
  name: "report",
  usage:
    "report [--nonce HEX] [--quote] [--verify] [--require-finalize] [--allow-sim] [--allow-debug] [--allow-interactive] [--out FILE]",
  summary: "get a TDREPORT (or --quote) over a nonce; --verify checks it and the event log",
  async run(c) {
    const { values } = parseArgs({
      args: c.args,
      options: {
        nonce: { type: "string" },
        quote: { type: "boolean" },
        verify: { type: "boolean" },
        "require-finalize": { type: "boolean" },
        "allow-sim": { type: "boolean" },
        "allow-debug": { type: "boolean" },
        "allow-interactive": { type: "boolean" },
        out: { type: "string" },
      },
      strict: true,
    });
    const nonceBytes = parseNonce(values.nonce);
    const nonce = nonceFromBytes(nonceBytes);
    const r = await c.client().report({
      nonceLo: nonce.lo,
      nonceHi: nonce.hi,
      requestType: values.quote ? 1 : 0,
    });
    if (values.out) await Deno.writeFile(values.out, r.data);
    const log3 = r.mrlog[3]?.logs ?? [];
    const verdict = values.verify
      ? verifyReport({
        data: r.data,
        rtmr3Log: log3,
        attestationData: r.attestationData,
        nonce,
        requireFinalize: values["require-finalize"],
        allowSim: values["allow-sim"],
        allowDebug: values["allow-debug"],
        allowInteractive: values["allow-interactive"],
        simPublicKey: r.simPublicKey,
      })
      : null;
    if (c.json) {
      printJson({
        tee: r.tee,
        canMeasure: r.canMeasure,
        teeNote: r.teeNote,
        nonce: toHex(nonceBytes),
        data: toHex(r.data),
        rtmr3Log: log3,
        attestationData: r.attestationData,
        simPublicKey: toHex(r.simPublicKey),
        verification: verdict,
      });
    } else {
      console.log(`tee: ${r.tee}${r.canMeasure ? "" : " (CANNOT MEASURE)"}: ${r.teeNote}`);
      console.log(`nonce: ${toHex(nonceBytes)}`);
      console.log(`${values.quote ? "quote" : "TDREPORT"}: ${r.data.length} bytes`);
      console.log(`attestation data: ${r.attestationData}`);
      console.log("RTMR3 log:");
      for (const l of log3) console.log(`  ${l}`);
      if (verdict) printVerdict(verdict);
    }
    return verdict && !verdict.ok ? 1 : 0;
  },
};

const eventLog: Command = {
  name: "event-log",
  usage: "event-log",
  summary: "acond's RTMR3 event log and the RTMR3 value, with a replay check",
  async run(c) {
    if (c.args.length > 0) throw new UsageError("event-log takes no arguments");
    const r = await c.client().getEventLog({});
    const replayed = toHex(replay(r.lines));
    const rtmr3 = toHex(r.rtmr3);
    if (c.json) {
      printJson({ tee: r.tee, rtmr3, replayed, matches: replayed === rtmr3, lines: r.lines });
    } else {
      for (const l of r.lines) console.log(l);
      console.log(`RTMR3 (${r.tee}): ${rtmr3}`);
      console.log(`replayed:   ${replayed} ${replayed === rtmr3 ? "(matches)" : "(MISMATCH)"}`);
    }
    return replayed === rtmr3 ? 0 : 1;
  },
};

const verifyFile: Command = {
  name: "verify",
  usage:
    "verify FILE [--nonce HEX] [--require-finalize] [--allow-sim] [--allow-debug] [--allow-interactive]",
  summary: "verify a saved `aconctl --json report` output offline (no daemon needed)",
  run(c) {
    const { values, positionals } = parseArgs({
      args: c.args,
      options: {
        nonce: { type: "string" },
        "require-finalize": { type: "boolean" },
        "allow-sim": { type: "boolean" },
        "allow-debug": { type: "boolean" },
        "allow-interactive": { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw new UsageError("verify takes one FILE");
    let saved;
    try {
      saved = JSON.parse(Deno.readTextFileSync(positionals[0]));
    } catch (e) {
      throw new UsageError(`cannot read ${positionals[0]}: ${(e as Error).message}`);
    }
    const hex = (v: unknown, what: string) => {
      if (typeof v !== "string") throw new UsageError(`${what} missing from ${positionals[0]}`);
      return fromHex(v);
    };
    const lines = saved.rtmr3Log;
    if (!Array.isArray(lines) || !lines.every((l) => typeof l === "string")) {
      throw new UsageError(`rtmr3Log missing from ${positionals[0]}`);
    }
    if (typeof saved.attestationData !== "string") {
      throw new UsageError(`attestationData missing from ${positionals[0]}`);
    }
    // The nonce to hold the report to is the one given here (else the one saved with it).
    let nonceHex = values.nonce;
    if (nonceHex === undefined) {
      hex(saved.nonce, "nonce");
      nonceHex = saved.nonce as string;
    }
    const nonce = nonceFromBytes(parseNonce(nonceHex));
    const v = verifyReport({
      data: hex(saved.data, "data"),
      rtmr3Log: lines,
      attestationData: saved.attestationData,
      nonce,
      requireFinalize: values["require-finalize"],
      allowSim: values["allow-sim"],
      allowDebug: values["allow-debug"],
      allowInteractive: values["allow-interactive"],
      simPublicKey: saved.simPublicKey ? hex(saved.simPublicKey, "simPublicKey") : undefined,
    });
    if (c.json) printJson(v);
    else printVerdict(v);
    return Promise.resolve(v.ok ? 0 : 1);
  },
};

export const reportCommands: Command[] = [report, eventLog, verifyFile];
