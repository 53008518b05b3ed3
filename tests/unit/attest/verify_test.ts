/** The verifier and the quote parsers on hand-built evidence (v4, v5, mock, debug TDs). */
import { assertEquals, assertOk, assertThrows } from "../../helpers/assert.ts";
import {
  DCAP_NEEDS_COLLATERAL,
  type VerifyInput,
  verifyReport,
} from "../../../src/attest/verify.ts";
import type { DcapVerdict } from "../../../src/attest/dcap/verify.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { bodyFromTdReport, MOCK_VENDOR_ID, parseQuote } from "../../../src/attest/quote.ts";
import { attestationJson, nonceBytes, reportDataFor } from "../../../src/attest/attestation.ts";
import { addManifestLine, INIT_LINE } from "../../../src/attest/eventlog.ts";
import { bootEventLine } from "../../../src/attest/bootevent.ts";
import { digest, fromHex, toHex } from "../../../src/digest.ts";

const NONCE = { lo: 5n, hi: 6n };
/**
 * The DCAP verdict a caller passes for a quote whose chain verified (the chain itself is tested
 * on real quotes in dcap/dcap_test.ts); the hand-built quotes here test everything else.
 */
const DCAP_OK: DcapVerdict = {
  ok: true,
  chainValid: true,
  status: "UpToDate",
  advisoryIds: [],
  acceptStatus: ["UpToDate"],
  at: "2026-01-01T00:00:00.000Z",
  rootCaSha256: "",
  errors: [],
  collateral: {},
};
const IMAGE = "sha384/" + "a".repeat(96) + "/" + "b".repeat(96);

interface Scenario {
  tdreport: Uint8Array;
  log: string[];
  json: string;
}

async function scenario(
  o: {
    tee?: string;
    interactive?: boolean;
    debugConsole?: boolean;
    debugAttr?: boolean;
    launchConfig?: string;
    mrConfigId?: Uint8Array;
  } = {},
) {
  const t = new SimTee("requested", o.mrConfigId);
  const log = [
    INIT_LINE,
    bootEventLine({
      version: "0.1.0",
      tee: o.tee ?? "tdx",
      pid1: true,
      interactive: o.interactive ?? false,
      debugConsole: o.debugConsole ?? false,
      minHash: "sha384",
      ...(o.launchConfig !== undefined ? { launchConfig: o.launchConfig } : {}),
    }),
    addManifestLine(IMAGE),
  ];
  for (const l of log) await t.extendRtmr(3, digest("sha384", l));
  const json = attestationJson({
    requestorNonce: nonceBytes(NONCE.lo, NONCE.hi),
    acondNonce: new Uint8Array(16),
    imageIds: [IMAGE],
    containers: [],
  });
  const tdreport = t.buildReport(reportDataFor(json));
  if (o.debugAttr) tdreport[512] |= 1;
  return { tdreport, log, json, tee: t } satisfies Scenario & { tee: SimTee };
}

/** A DCAP-shaped quote (v4 or v5 with body type 2/3) around a TDREPORT; signature bytes are dummies. */
function dcapQuote(tdr: Uint8Array, version: 4 | 5, bodyType = 2, vendor?: Uint8Array): Uint8Array {
  const body10 = bodyFromTdReport(tdr);
  const body = new Uint8Array(bodyType === 3 ? 648 : 584);
  body.set(body10);
  const pre = version === 5 ? 6 : 0;
  const sig = new Uint8Array(10).fill(0xee);
  const q = new Uint8Array(48 + pre + body.length + 4 + sig.length);
  const dv = new DataView(q.buffer);
  dv.setUint16(0, version, true);
  dv.setUint16(2, 2, true);
  dv.setUint32(4, 0x81, true);
  q.set(vendor ?? fromHex("939a7233f79c4ca9940a0db3957f0607"), 12);
  if (version === 5) {
    dv.setUint16(48, bodyType, true);
    dv.setUint32(50, body.length, true);
  }
  q.set(body, 48 + pre);
  dv.setUint32(48 + pre + body.length, sig.length, true);
  q.set(sig, 48 + pre + body.length + 4);
  return q;
}

function run(s: Scenario, data: Uint8Array, over: Partial<VerifyInput> = {}) {
  return verifyReport({
    data,
    rtmr3Log: s.log,
    attestationData: s.json,
    nonce: NONCE,
    dcap: DCAP_OK,
    ...over,
  });
}

Deno.test("DCAP v4 and v5 (TD 1.0 and 1.5 bodies) parse at the right offsets and verify", async () => {
  const s = await scenario();
  for (const [v, bt] of [[4, 2], [5, 2], [5, 3]] as const) {
    const q = dcapQuote(s.tdreport, v, bt);
    const p = parseQuote(q);
    assertEquals([p.version, p.bodyType, p.origin], [v, bt, "dcap"]);
    assertEquals(toHex(p.body.rtmr[3]), toHex(s.tdreport.subarray(864, 912)));
    assertEquals(toHex(p.body.reportData), toHex(s.tdreport.subarray(128, 192)));
    const r = run(s, q);
    assertEquals(r.errors, [], `v${v}/${bt}`);
    assertEquals(r.images, [IMAGE]);
    assertEquals(r.dcap?.status, "UpToDate");
  }
  // A v5 quote read at v4 offsets would be garbage: the parser keys on the version.
  const v5 = dcapQuote(s.tdreport, 5);
  assertOk(toHex(v5.subarray(520, 568)) !== toHex(s.tdreport.subarray(864, 912)));
  // Malformed quotes.
  const bad = (mut: (q: Uint8Array, dv: DataView) => void, re: RegExp) => {
    const q = dcapQuote(s.tdreport, 5).slice();
    mut(q, new DataView(q.buffer));
    assertThrows(() => parseQuote(q), re);
  };
  bad((_q, dv) => dv.setUint16(0, 3, true), /version 3/);
  bad((_q, dv) => dv.setUint32(4, 0, true), /not TDX/);
  bad((_q, dv) => dv.setUint16(48, 1, true), /not a TD report/);
  bad((_q, dv) => dv.setUint32(50, 600, true), /body size/);
  assertThrows(() => parseQuote(new Uint8Array(40)), /too short/);
  // A v5 header cut inside the body descriptor: a clear error, not a DataView RangeError.
  for (const n of [52, 53]) {
    assertThrows(() => parseQuote(v5.subarray(0, n)), /quote too short/);
  }
});

Deno.test("a mock-module quote is recognised and refused unless test evidence is allowed", async () => {
  const s = await scenario();
  const q = dcapQuote(s.tdreport, 4, 2, MOCK_VENDOR_ID);
  const r = run(s, q);
  assertEquals(r.origin, "mock");
  assertOk(r.errors.some((e) => /mock TDX/.test(e)));
  assertEquals(run(s, q, { allowSim: true }).errors, []);
});

Deno.test("debug TDs are refused: TD attributes bit 0 unless allowDebug", async () => {
  const dbg = await scenario({ debugAttr: true });
  const q = dcapQuote(dbg.tdreport, 4);
  assertOk(run(dbg, q).errors.some((e) => /debug TD/.test(e)));
  assertEquals(run(dbg, q, { allowDebug: true }).errors, []);
  assertOk(run(dbg, q, { allowInteractive: true }).errors.some((e) => /debug TD/.test(e)));
});

Deno.test("an interactive boot event is refused unless allowInteractive (allowDebug is not enough)", async () => {
  const inter = await scenario({ interactive: true });
  const q = dcapQuote(inter.tdreport, 4);
  const refused = run(inter, q).errors;
  assertOk(
    refused.some((e) => /interactive mode is on.*--allow-interactive/.test(e)),
    String(refused),
  );
  const withDebug = run(inter, q, { allowDebug: true }).errors;
  assertOk(withDebug.some((e) => /interactive mode is on/.test(e)), String(withDebug));
  assertEquals(run(inter, q, { allowInteractive: true }).errors, []);
  // Not interactive: accepted without the flag.
  const plain = await scenario({ interactive: false });
  assertEquals(run(plain, dcapQuote(plain.tdreport, 4)).errors, []);
});

Deno.test("a boot event with the console's debug shell (debug_console) is refused unless --allow-debug", async () => {
  const s = await scenario({ interactive: true, debugConsole: true });
  const q = dcapQuote(s.tdreport, 4);
  assertOk(run(s, q, { allowInteractive: true }).errors.some((e) => /debug console/.test(e)));
  assertEquals(run(s, q, { allowInteractive: true, allowDebug: true }).errors, []);
  const only = await scenario({ debugConsole: true });
  const q2 = dcapQuote(only.tdreport, 4);
  assertOk(run(only, q2).errors.some((e) => /debug console/.test(e)));
});

Deno.test("a boot event's launch configuration must be the TD's MRCONFIGID", async () => {
  const bound = new Uint8Array(48).fill(0xab);
  const ok = await scenario({ launchConfig: "ab".repeat(48), mrConfigId: bound });
  assertEquals(run(ok, dcapQuote(ok.tdreport, 4)).errors, []);
  const forged = await scenario({ launchConfig: "cd".repeat(48), mrConfigId: bound });
  const errors = run(forged, dcapQuote(forged.tdreport, 4)).errors;
  assertOk(
    errors.some((e) => /launch configuration (cd)+ is not the TD's MRCONFIGID (ab)+/.test(e)),
    String(errors),
  );
});

Deno.test("the boot event's TEE must match the evidence; the JSON must name measured images", async () => {
  const s = await scenario({ tee: "sim" });
  // Sim boot event but DCAP-looking evidence: refused.
  assertOk(
    run(s, dcapQuote(s.tdreport, 4)).errors.some((e) => /boot event says TEE "sim"/.test(e)),
  );
  // The sim TDREPORT itself (with allowSim) is fine.
  assertEquals(run(s, s.tdreport, { allowSim: true }).errors, []);
  // JSON without the measured image (REPORTDATA recomputed to isolate the check).
  const t = await scenario();
  const json = attestationJson({
    requestorNonce: nonceBytes(NONCE.lo, NONCE.hi),
    acondNonce: new Uint8Array(16),
    imageIds: [],
    containers: [],
  });
  const tee = t.tee;
  const r = run({ ...t, json }, dcapQuote(tee.buildReport(reportDataFor(json)), 4), {
    attestationData: json,
  });
  assertOk(r.errors.some((e) => /missing from the JSON/.test(e)), JSON.stringify(r.errors));
  // Not JSON at all; wrong api_version; a log without INIT.
  assertOk(run(t, dcapQuote(t.tdreport, 4), { attestationData: "{" }).errors.length > 0);
  const j2 = t.json.replace('"1.0.0"', '"2.0.0"');
  assertOk(
    run(t, dcapQuote(t.tdreport, 4), { attestationData: j2 }).errors.some((e) =>
      /api_version/.test(e)
    ),
  );
  assertOk(
    run(t, dcapQuote(t.tdreport, 4), { rtmr3Log: t.log.slice(1) }).errors.some((e) =>
      /INIT/.test(e)
    ),
  );
});

Deno.test("a real quote needs its DCAP verdict: none says how to give collateral; a failed one is named", async () => {
  const s = await scenario();
  const q = dcapQuote(s.tdreport, 4);
  const none = run(s, q, { dcap: undefined });
  assertEquals(none.errors, [DCAP_NEEDS_COLLATERAL]);
  assertOk(/--collateral FILE or --pccs URL/.test(none.errors[0]));
  const bad = run(s, q, {
    dcap: {
      ...DCAP_OK,
      ok: false,
      chainValid: false,
      status: null,
      errors: ["DCAP: TCBInfo expired"],
    },
  });
  assertEquals(bad.errors, ["DCAP: TCBInfo expired"]);
});

Deno.test("a bare TDREPORT from a real TEE verifies only with allowUnsigned, loudly", async () => {
  const s = await scenario();
  const r = s.tdreport.slice();
  r.set(new TextEncoder().encode("not the simulator's MRSEAM"), 280);
  const v = run(s, r);
  assertEquals(v.origin, "tdreport");
  assertEquals(v.errors.length, 1);
  assertOk(/bare TDREPORT is not signed.*--allow-unsigned/.test(v.errors[0]), v.errors[0]);
  const u = run(s, r, { allowUnsigned: true });
  assertEquals(u.errors, []);
  assertOk(u.warnings.some((w) => /^UNSIGNED EVIDENCE ACCEPTED/.test(w)));
});

Deno.test("reference values: each mismatch is named; the images must be exactly the expected", async () => {
  const s = await scenario();
  const q = dcapQuote(s.tdreport, 4);
  const p = parseQuote(q).body;
  const right = {
    images: [IMAGE],
    mrTd: toHex(p.mrTd),
    rtmr: { 0: toHex(p.rtmr[0]), 3: toHex(p.rtmr[3]) },
    mrConfigId: toHex(p.mrConfigId),
  };
  assertEquals(run(s, q, { expect: right }).errors, []);
  const other = "ab".repeat(48);
  const other2 = "sha384/" + "c".repeat(96) + "/" + "d".repeat(96);
  const v = run(s, q, {
    expect: { images: [other2], mrTd: other, rtmr: { 2: other }, mrConfigId: other },
  });
  assertEquals(v.errors, [
    `MRTD is ${toHex(p.mrTd)}, expected ${other}`,
    `MRCONFIGID is ${toHex(p.mrConfigId)}, expected ${other}`,
    `RTMR2 is ${toHex(p.rtmr[2])}, expected ${other}`,
    `expected image ${other2} was not measured`,
    `image ${IMAGE} was measured but is not expected`,
  ]);
  // An empty expected list means: no image may be measured.
  assertEquals(run(s, q, { expect: { images: [] } }).errors, [
    `image ${IMAGE} was measured but is not expected`,
  ]);
});
