/** Event log crash consistency (recovery in EventLog.open()) and fail-closed measuring. */
import { assertEquals, assertMatch, assertRejects } from "../../helpers/assert.ts";
import { EventLog, FINALIZE_LINE, INIT_LINE, replay } from "../../../src/attest/eventlog.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { toHex } from "../../../src/digest.ts";
import type { Tee } from "../../../src/attest/tee.ts";

async function setup() {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/rtmr/rtmr3.log`;
  const tee = new SimTee();
  return { dir, path, tee, done: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("a crash between append and extend: open() drops the unmeasured line", async () => {
  const s = await setup();
  const a = new EventLog(s.path, s.tee);
  await a.measure("x A 1");
  // Simulate: the line appended, a crash before the extend.
  await Deno.writeTextFile(s.path, "x B 2\n", { append: true });
  const b = new EventLog(s.path, s.tee);
  await b.open();
  assertEquals(b.broken, null);
  assertEquals(b.lines, [INIT_LINE, "x A 1"]);
  assertEquals(await Deno.readTextFile(s.path), `${INIT_LINE}\nx A 1\n`);
  assertEquals(toHex(s.tee.rtmrs[3]), toHex(replay(b.lines)));
  await b.measure("x C 3");
  assertEquals(await Deno.readTextFile(s.path), `${INIT_LINE}\nx A 1\nx C 3\n`);
  assertEquals(toHex(s.tee.rtmrs[3]), toHex(replay(b.lines)));
  await s.done();
});

Deno.test("a torn line is cut; a write-ahead file of an older acond is removed", async () => {
  const s = await setup();
  await new EventLog(s.path, s.tee).measure("x A 1");
  await Deno.writeTextFile(`${s.path}.pending`, "x B 2");
  await Deno.writeTextFile(s.path, "x B", { append: true }); // torn append, no newline
  const b = new EventLog(s.path, s.tee);
  await b.open();
  assertEquals(b.lines, [INIT_LINE, "x A 1"]);
  assertEquals(await Deno.readTextFile(s.path), `${INIT_LINE}\nx A 1\n`);
  await assertRejects(Deno.stat(`${s.path}.pending`), Deno.errors.NotFound);
  await s.done();
});

Deno.test("a log from an earlier boot (RTMR3 zero) is set aside; a mismatching one fails closed", async () => {
  const s = await setup();
  await new EventLog(s.path, s.tee).measure("x A 1");
  // New sim instance: RTMR3 is zero again.
  const fresh = new SimTee();
  const b = new EventLog(s.path, fresh);
  await b.measure(FINALIZE_LINE);
  assertEquals(b.lines, [INIT_LINE, FINALIZE_LINE]);
  const names = [...Deno.readDirSync(`${s.dir}/rtmr`)].map((e) => e.name).sort();
  assertEquals(names.length, 2);
  assertMatch(names[1], /^rtmr3\.log\.stale-\d+$/);
  // Someone else extended RTMR3: the log no longer describes it; refuse to build on it.
  await fresh.extendRtmr(3, new Uint8Array(48).fill(7));
  const c = new EventLog(s.path, fresh);
  await c.open();
  assertMatch(c.broken!, /does not replay to RTMR3/);
  await assertRejects(c.measure("x B 2"), /does not replay/);
  assertEquals(await Deno.readTextFile(s.path), `${INIT_LINE}\n${FINALIZE_LINE}\n`);
  await s.done();
});

Deno.test("a TEE that cannot measure: measure() is a FailedPrecondition and writes nothing", async () => {
  const s = await setup();
  const tee: Tee = {
    kind: "tdx",
    canMeasure: false,
    note: "no RTMR extend interface (kernel < 6.16)",
    extendRtmr: () => Promise.reject(new Error("must not be called")),
    readRtmr: () => Promise.resolve(new Uint8Array(48)),
    report: () => Promise.reject(new Error("unused")),
    quote: () => Promise.reject(new Error("unused")),
  };
  const l = new EventLog(s.path, tee);
  const e = await l.measure(FINALIZE_LINE).then(() => null, (e) => e);
  assertEquals(e.code, "failed_precondition");
  assertMatch(e.message, /^Attestation not supported: this TEE cannot extend RTMR3/);
  await assertRejects(Deno.stat(s.path), Deno.errors.NotFound);
  await s.done();
});

Deno.test("a failed extend leaves no log line (the append is cut back off); bad lines are refused", async () => {
  const s = await setup();
  let fail = false;
  const inner = new SimTee();
  const tee: Tee = {
    kind: "sim",
    canMeasure: true,
    note: "flaky",
    extendRtmr: (i, d) => fail ? Promise.reject(new Error("EIO")) : inner.extendRtmr(i, d),
    readRtmr: (i) => inner.readRtmr(i),
    report: (r) => inner.report(r),
    quote: (r) => inner.quote(r),
  };
  const l = new EventLog(s.path, tee);
  await l.measure("x A 1");
  fail = true;
  await assertRejects(l.measure("x B 2"), /EIO/);
  assertEquals(l.lines, [INIT_LINE, "x A 1"]);
  assertEquals(await Deno.readTextFile(s.path), `${INIT_LINE}\nx A 1\n`);
  assertEquals(l.broken, null);
  fail = false;
  for (const bad of ["", "a\nb", "tab\there", "é", "x".repeat(4097)]) {
    await assertRejects(l.measure(bad), /printable ASCII/);
  }
  assertEquals(l.lines.length, 2);
  await s.done();
});

Deno.test("an extend that reports an error but did extend: measuring stops, a restart recovers", async () => {
  const s = await setup();
  let lie = false;
  const inner = new SimTee();
  const tee: Tee = {
    kind: "sim",
    canMeasure: true,
    note: "extends, then reports EIO",
    extendRtmr: async (i, d) => {
      await inner.extendRtmr(i, d);
      if (lie) throw new Error("EIO");
    },
    readRtmr: (i) => inner.readRtmr(i),
    report: (r) => inner.report(r),
    quote: (r) => inner.quote(r),
  };
  const l = new EventLog(s.path, tee);
  await l.measure("x A 1");
  lie = true;
  await assertRejects(l.measure("x B 2"), /EIO/);
  lie = false;
  // RTMR3 now holds "x B 2" (so does the file): the answer was an error, measuring stops.
  assertMatch(l.broken!, /x B 2/);
  await assertRejects(l.measure("x C 3"), /x B 2/);
  assertEquals(await Deno.readTextFile(s.path), `${INIT_LINE}\nx A 1\nx B 2\n`);
  const after = new EventLog(s.path, tee);
  await after.open();
  assertEquals(after.broken, null);
  assertEquals(after.lines, [INIT_LINE, "x A 1", "x B 2"]);
  assertEquals(toHex(inner.rtmrs[3]), toHex(replay(after.lines)));
  await s.done();
});

Deno.test("an open() that fails (RTMR3 unreadable) is retried by the next measure, never skipped", async () => {
  const s = await setup();
  await new EventLog(s.path, s.tee).measure("x A 1");
  let unreadable = true;
  const tee: Tee = {
    kind: "sim",
    canMeasure: true,
    note: "RTMR3 read fails once",
    extendRtmr: (i, d) => s.tee.extendRtmr(i, d),
    readRtmr: (i) => unreadable ? Promise.reject(new Error("EIO")) : s.tee.readRtmr(i),
    report: (r) => s.tee.report(r),
    quote: (r) => s.tee.quote(r),
  };
  const l = new EventLog(s.path, tee);
  await assertRejects(l.open(), /EIO/);
  unreadable = false;
  await l.measure("x B 2");
  // Built on the recovered log: no second INIT, and the file still replays to RTMR3.
  assertEquals(l.lines, [INIT_LINE, "x A 1", "x B 2"]);
  assertEquals(await Deno.readTextFile(s.path), `${INIT_LINE}\nx A 1\nx B 2\n`);
  assertEquals(toHex(s.tee.rtmrs[3]), toHex(replay(l.lines)));
  await s.done();
});
