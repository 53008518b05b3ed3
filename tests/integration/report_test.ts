/**
 * Report end to end against dist/acond --dev with the sim backend: real clients (connect-es,
 * curl, aconctl), the verifier library, and a tamper matrix the verifier must refuse.
 */
import { assertEquals, assertMatch, assertOk } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, expectedImageId, signedManifest } from "../helpers/image.ts";
import { type VerifyInput, verifyReport } from "../../src/attest/verify.ts";
import { nonceBytes } from "../../src/attest/attestation.ts";
import { FINALIZE_LINE, INIT_LINE, replay } from "../../src/attest/eventlog.ts";
import { TDR } from "../../src/attest/tdreport.ts";
import { toHex } from "../../src/digest.ts";
import type { ReportResponse } from "../../src/gen/acon_pb.ts";

const NONCE = { lo: 0x0102030405060708n, hi: 0x1112131415161718n };

function input(r: ReportResponse, over: Partial<VerifyInput> = {}): VerifyInput {
  return {
    data: r.data,
    rtmr3Log: r.mrlog[3].logs,
    attestationData: r.attestationData,
    nonce: NONCE,
    allowSim: true,
    simPublicKey: r.simPublicKey,
    ...over,
  };
}

function refused(i: VerifyInput, why: RegExp): void {
  const v = verifyReport(i);
  assertEquals(v.ok, false);
  assertOk(v.errors.some((e) => why.test(e)), `expected ${why} in ${JSON.stringify(v.errors)}`);
}

Deno.test("Report with no images: TDREPORT and quote verify; every tampering is refused", async () => {
  const d = await startDaemon();
  try {
    const c = d.client();
    const h = await c.health({});
    assertEquals([h.tee, h.canMeasure], ["sim", true]);
    const rep = await c.report({ nonceLo: NONCE.lo, nonceHi: NONCE.hi, requestType: 0 });
    assertEquals(rep.tee, "sim");
    assertEquals(rep.canMeasure, true);
    assertEquals(rep.data.length, 1024);
    assertEquals(Object.keys(rep.mrlog).sort(), ["0", "1", "2", "3"]);
    for (const i of [0, 1, 2]) assertEquals(rep.mrlog[i].logs, []);
    const log = rep.mrlog[3].logs;
    assertEquals(log[0], INIT_LINE);
    assertMatch(log[1], /^acond Boot \{"version":"[^"]+","tee":"sim",/);
    const json = JSON.parse(rep.attestationData);
    assertEquals(Object.keys(json), [
      "api_version",
      "requestor_nonce",
      "acond_nonce",
      "attestation_data",
    ]);
    assertEquals(json.requestor_nonce, [
      8,
      7,
      6,
      5,
      4,
      3,
      2,
      1,
      0x18,
      0x17,
      0x16,
      0x15,
      0x14,
      0x13,
      0x12,
      0x11,
    ]);
    assertEquals(json.attestation_data, {});
    const v = verifyReport(input(rep));
    assertEquals(v.errors, []);
    assertEquals([v.ok, v.origin, v.boot?.tee], [true, "sim-tdreport", "sim"]);

    const quote = await c.report({ nonceLo: NONCE.lo, nonceHi: NONCE.hi, requestType: 1 });
    assertEquals(quote.data.length, 1772);
    assertEquals(verifyReport(input(quote)).errors, []);

    // Simulated evidence is refused unless asked for.
    refused(input(rep, { allowSim: false }), /simulated/);
    // The log: a changed, a dropped, an added line.
    refused(input(rep, { rtmr3Log: [log[0]] }), /does not match the replayed/);
    refused(input(rep, { rtmr3Log: [...log, FINALIZE_LINE] }), /does not match the replayed/);
    refused(
      input(rep, {
        rtmr3Log: [log[0], log[1].replace('"interactive":false', '"interactive":true')],
      }),
      /does not match the replayed/,
    );
    refused(input(rep, { requireFinalize: true }), /no Finalize/);
    // The JSON: one byte of acond_nonce changed.
    const j2 = rep.attestationData.replace(
      /"acond_nonce":\[(\d+)/,
      (_m, n) => `"acond_nonce":[${(+n + 1) % 256}`,
    );
    assertOk(j2 !== rep.attestationData);
    refused(input(rep, { attestationData: j2 }), /REPORTDATA/);
    // The nonce the verifier expects is not the one sent.
    refused(input(rep, { nonce: { lo: NONCE.lo + 1n, hi: NONCE.hi } }), /requestor_nonce/);
    // The report: RTMR3 or REPORTDATA bytes flipped.
    for (const off of [TDR.rtmr0 + 3 * 48 + 5, TDR.reportData + 1]) {
      const bad = rep.data.slice();
      bad[off] ^= 1;
      refused(input(rep, { data: bad }), off < TDR.reportData + 64 ? /REPORTDATA/ : /RTMR3/);
    }
    // The quote: any byte flipped breaks the signature; another boot's key does not verify it.
    for (const off of [10, 48 + 472 + 1, quote.data.length - 200, quote.data.length - 1]) {
      const bad = quote.data.slice();
      bad[off] ^= 0x40;
      refused(input(quote, { data: bad }), /evidence/);
    }
    refused(input(quote, { simPublicKey: new Uint8Array() }), /no simulator public key/);

    // GetEventLog: the same lines, and RTMR3 as the backend reports it equals their replay.
    const el = await c.getEventLog({});
    assertEquals(el.lines, log);
    assertEquals(toHex(el.rtmr3), toHex(replay(log)));
    assertEquals(el.tee, "sim");
  } finally {
    await d.stop();
  }
});

Deno.test("Report: bad request type is InvalidArgument; Connect JSON over curl works", async () => {
  const d = await startDaemon();
  try {
    const bad = await d.curl("Report", { nonceLo: "1", nonceHi: "2", requestType: 2 });
    assertEquals(bad.status, 400);
    assertEquals(bad.body, { code: "invalid_argument", message: "Invalid request type" });
    const ok = await d.curl("Report", { nonceLo: "1", nonceHi: "2", requestType: 0 });
    assertEquals(ok.status, 200);
    const body = ok.body as { attestationData: string; mrlog: Record<string, { logs?: string[] }> };
    assertEquals(JSON.parse(body.attestationData).requestor_nonce, [
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      2,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
    assertEquals(body.mrlog["3"].logs![0], INIT_LINE);
    // Still healthy.
    assertEquals((await d.curl("Health", {})).status, 200);
  } finally {
    await d.stop();
  }
});

Deno.test("Report after AddManifest and Finalize names the image; aconctl report --verify", async () => {
  const d = await startDaemon();
  try {
    const c = d.client();
    const signer = await makeSigner("ec-p384");
    const m = await signedManifest(signer, baseManifest());
    const id = (await c.addManifest(m)).imageId;
    assertEquals(id, await expectedImageId(signer, m.manifest));
    const r1 = await c.report({ nonceLo: NONCE.lo, nonceHi: NONCE.hi, requestType: 0 });
    assertEquals(JSON.parse(r1.attestationData).attestation_data, { [id]: {} });
    const v1 = verifyReport(input(r1));
    assertEquals(v1.errors, []);
    assertEquals(v1.images, [id]);
    refused(input(r1, { requireFinalize: true }), /no Finalize/);
    // An image named in the JSON must be measured: dropping its log line is caught twice over.
    refused(
      input(r1, { rtmr3Log: r1.mrlog[3].logs.filter((l) => !l.includes("AddManifest")) }),
      /not measured|does not match/,
    );

    await c.finalize({});
    const r2 = await c.report({ nonceLo: NONCE.lo, nonceHi: NONCE.hi, requestType: 1 });
    assertEquals(r2.mrlog[3].logs.at(-1), FINALIZE_LINE);
    const v2 = verifyReport(input(r2, { requireFinalize: true }));
    assertEquals(v2.errors, []);
    assertEquals(v2.finalized, true);

    // The CLI: verifies sim evidence only with --allow-sim; prints what was loaded.
    const nonceHex = toHex(nonceBytes(NONCE.lo, NONCE.hi));
    const run = async (...args: string[]) => {
      const o = await new Deno.Command(`${TOP}/dist/aconctl`, {
        args: ["--socket", d.socket, "report", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: o.code, out: new TextDecoder().decode(o.stdout) };
    };
    const good = await run(
      "--nonce",
      nonceHex,
      "--quote",
      "--verify",
      "--require-finalize",
      "--allow-sim",
    );
    assertEquals(good.code, 0, good.out);
    assertMatch(good.out, /verification: OK/);
    assertOk(good.out.includes(id));
    const strict = await run("--verify");
    assertEquals(strict.code, 1);
    assertMatch(strict.out, /ERROR: the evidence is simulated/);

    // Offline: save `--json report`, verify the file; a tampered file or another nonce fails.
    const cli = async (...args: string[]) => {
      const o = await new Deno.Command(`${TOP}/dist/aconctl`, { args, stdout: "piped" }).output();
      return { code: o.code, out: new TextDecoder().decode(o.stdout) };
    };
    const saved = await cli(
      "--socket",
      d.socket,
      "--json",
      "report",
      "--quote",
      "--nonce",
      nonceHex,
    );
    assertEquals(saved.code, 0);
    const file = `${d.dir}/report.json`;
    await Deno.writeTextFile(file, saved.out);
    assertEquals((await cli("verify", file, "--allow-sim", "--require-finalize")).code, 0);
    const other = await cli("verify", file, "--allow-sim", "--nonce", "ff");
    assertEquals(other.code, 1);
    assertMatch(other.out, /requestor_nonce is not the nonce that was sent/);
    const obj = JSON.parse(saved.out);
    const forged = id.slice(0, -1) + (id.endsWith("0") ? "1" : "0");
    obj.attestationData = obj.attestationData.replace(id, forged);
    assertOk(obj.attestationData.includes(forged));
    await Deno.writeTextFile(file, JSON.stringify(obj));
    const tampered = await cli("verify", file, "--allow-sim");
    assertEquals(tampered.code, 1);
    assertMatch(tampered.out, /REPORTDATA is not sha384/);
  } finally {
    await d.stop();
  }
});
