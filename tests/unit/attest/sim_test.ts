/** The sim TEE: TDREPORT layout, RTMR semantics, and the simulated quote format. */
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { SIM_VALUES, SimTee } from "../../../src/attest/sim.ts";
import { parseTdReport } from "../../../src/attest/tdreport.ts";
import {
  bodyFromTdReport,
  parseQuote,
  SIM_SIG_MAGIC,
  verifySimQuote,
} from "../../../src/attest/quote.ts";
import { digest, toHex } from "../../../src/digest.ts";
import { sha384 } from "../../../src/digest_boot.ts";

const RD = Uint8Array.from({ length: 64 }, (_, i) => i + 1);

Deno.test("sim RTMRs extend as hardware: sha384(old || value), independently", async () => {
  const t = new SimTee();
  const v = new Uint8Array(48).fill(0xa5);
  await t.extendRtmr(2, v);
  const joined = new Uint8Array(96);
  joined.set(v, 48);
  assertEquals(toHex(await t.readRtmr(2)), toHex(digest("sha384", joined)));
  assertEquals(toHex(await t.readRtmr(3)), "0".repeat(96));
  let e = await t.extendRtmr(4, v).then(() => null, (x) => x);
  assertEquals(e?.code, "internal");
  e = await t.extendRtmr(3, new Uint8Array(47)).then(() => null, (x) => x);
  assertEquals(e?.code, "internal");
});

Deno.test("sim TDREPORT: REPORTDATA @128, RTMR0-3 @720/768/816/864, recognisable TDINFO", async () => {
  const t = new SimTee();
  for (let i = 0; i < 4; i++) await t.extendRtmr(i, new Uint8Array(48).fill(i + 1));
  const r = await t.report(RD);
  assertEquals(r.length, 1024);
  assertEquals(r[0], 0x81);
  assertEquals(Array.from(r.subarray(128, 192)), Array.from(RD));
  for (let i = 0; i < 4; i++) {
    assertEquals(toHex(r.subarray(720 + 48 * i, 768 + 48 * i)), toHex(t.rtmrs[i]));
  }
  const text = new TextDecoder().decode(r.subarray(528, 528 + 24));
  assertEquals(text, "ACOND SIMULATED TD: MRTD");
  assertEquals(
    new TextDecoder().decode(r.subarray(280, 280 + 34)),
    "ACOND SIMULATED TDX MODULE: MRSEAM",
  );
  // The hashes the TDX module puts in REPORTMACSTRUCT.
  assertEquals(toHex(r.subarray(80, 128)), toHex(digest("sha384", r.subarray(512, 1024))));
  assertEquals(toHex(r.subarray(32, 80)), toHex(digest("sha384", r.subarray(256, 495))));
  const p = parseTdReport(r);
  assertEquals(p.tdAttributes, 0n);
  assertEquals(p.xfam, SIM_VALUES.xfam);
  assertEquals(toHex(p.rtmr[3]), toHex(t.rtmrs[3]));
  assertEquals(toHex(p.reportData), toHex(RD));
  assertThrows(() => parseTdReport(new Uint8Array(1023)));
  assertThrows(() => parseTdReport(new Uint8Array(1024)), /type is 0x0/);
  await t.report(new Uint8Array(63)).then(() => assertThrows(() => {}), () => {});
});

Deno.test("sim quote: v4-shaped, body copied from the TDREPORT, signed with the per-boot key", async () => {
  const t = new SimTee();
  await t.extendRtmr(3, new Uint8Array(48).fill(9));
  const q = await t.quote(RD);
  assertEquals(q.length, 48 + 584 + 4 + 16 + 1024 + 96);
  // Header golden bytes: version 4, att_key_type 0xFFFF, tee_type 0x81, vendor id, user data.
  assertEquals(
    toHex(q.subarray(0, 48)),
    "0400ffff81000000000000004143" + "4f4e442d53494d2d51554f544521" +
      "61636f6e642073696d756c6174656420544545" + "00",
  );
  const dv = new DataView(q.buffer, q.byteOffset);
  assertEquals(dv.getUint32(632, true), 16 + 1024 + 96);
  assertEquals(toHex(q.subarray(636, 652)), toHex(SIM_SIG_MAGIC));
  const parsed = parseQuote(q);
  assertEquals([parsed.version, parsed.origin, parsed.bodyType], [4, "sim", 2]);
  assertEquals(toHex(parsed.body.reportData), toHex(RD));
  assertEquals(toHex(q.subarray(568, 632)), toHex(RD));
  assertEquals(toHex(q.subarray(520, 568)), toHex(t.rtmrs[3]));
  const spki = t.simPublicKey!;
  const tdr = verifySimQuote(q, spki);
  assertEquals(toHex(q.subarray(48, 632)), toHex(bodyFromTdReport(tdr)));
  // Another boot's key, a flipped byte anywhere, or a truncated quote is refused.
  const other = await new SimTee().publicKey();
  assertThrows(() => verifySimQuote(q, other), /does not verify/);
  for (const off of [0, 2, 100, 640, 700, q.length - 1]) {
    const bad = q.slice();
    bad[off] ^= 1;
    assertThrows(() => verifySimQuote(bad, spki));
  }
  assertThrows(() => parseQuote(q.subarray(0, q.length - 1)), /header says/);
});

Deno.test("sim signing key: made on first use, then the same for every report and quote", async () => {
  const t = new SimTee();
  // Not made at construction (it is on the boot path; the key needs node:crypto).
  assertEquals(t.simPublicKey, undefined);
  // Concurrent first uses share one key.
  const [r, q] = await Promise.all([t.report(RD), t.quote(RD)]);
  const spki = t.simPublicKey!;
  assertEquals(r.length, 1024);
  verifySimQuote(q, spki);
  assertEquals(toHex(await t.publicKey()), toHex(spki));
  verifySimQuote(await t.quote(RD), spki);
  assertEquals(toHex(t.simPublicKey!), toHex(spki));
  // A report alone fills it in too (every ReportResponse carries sim_public_key).
  const u = new SimTee();
  await u.report(RD);
  assertEquals(u.simPublicKey!.length > 0, true);
  // A bad REPORTDATA is refused before any key is made.
  const w = new SimTee();
  await w.quote(new Uint8Array(63)).then(() => assertThrows(() => {}), () => {});
  assertEquals(w.simPublicKey, undefined);
});

Deno.test("concurrent extends apply in call order, as the hardware's; reads wait for them", async () => {
  const a = new SimTee();
  const b = new SimTee();
  const v1 = new Uint8Array(48).fill(1);
  const v2 = new Uint8Array(48).fill(2);
  // Not awaited in between: each must read the value the previous one wrote.
  const both = [a.extendRtmr(3, v1), a.extendRtmr(3, v2)];
  const read = a.readRtmr(3); // asked before they finish: still sees both
  await Promise.all(both);
  await b.extendRtmr(3, v1);
  await b.extendRtmr(3, v2);
  assertEquals(toHex(await read), toHex(await b.readRtmr(3)));
  const expect = sha384(
    new Uint8Array([...sha384(new Uint8Array([...new Uint8Array(48), ...v1])), ...v2]),
  );
  assertEquals(toHex(await read), toHex(expect));
});
