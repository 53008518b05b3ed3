/**
 * The evidence bundle end to end against dist/acond --dev (sim TEE) and dist/aconctl:
 * report --out → verify FILE offline, reference values (each mismatch named), --policy, DEBUG
 * refused, and a real DCAP quote's bundle needing its collateral.
 */
import { assertEquals, assertMatch, assertOk } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { V4_COLLATERAL, V4_QUOTE } from "../helpers/dcap.ts";
import { replay } from "../../src/attest/replay.ts";
import { toHex } from "../../src/digest.ts";
import { SIM_VALUES } from "../../src/attest/sim_values.ts";
import { aconctl } from "../helpers/aconctl.ts";

Deno.test("bundle: report --out, verify FILE with reference values and a policy; mismatches named", async () => {
  const d = await startDaemon();
  try {
    const c = d.client();
    const signer = await makeSigner("ec-p384");
    const id = (await c.addManifest(await signedManifest(signer, baseManifest()))).imageId;
    await c.finalize({});
    const file = `${d.dir}/bundle.json`;
    const r = await aconctl("--socket", d.socket, "report", "--quote", "--out", file);
    assertEquals(r.code, 0, r.out);
    assertMatch(r.out, /evidence bundle written to/);
    const b = JSON.parse(await Deno.readTextFile(file));
    assertEquals(b.format, "acond-evidence/1");
    assertEquals([b.tee, b.evidence, b.canMeasure], ["sim", "quote", true]);
    assertEquals(Object.keys(b).sort(), [
      "attestationData",
      "canMeasure",
      "createdAt",
      "data",
      "evidence",
      "format",
      "nonce",
      "rtmr3Log",
      "rtmr3TcgLog",
      "simPublicKey",
      "tee",
      "teeNote",
    ]);
    assertOk(b.rtmr3Log.includes(`github.com/intel/ACON AddManifest ${id}`));

    // Offline, with every reference value right.
    const mrtd = toHex(SIM_VALUES.mrTd);
    const rtmr3 = toHex(replay(b.rtmr3Log));
    const zero = "0".repeat(96);
    const good = await aconctl(
      "verify",
      file,
      "--allow-sim",
      "--require-finalize",
      "--expect-image",
      id,
      "--expect-mrtd",
      mrtd,
      "--expect-rtmr",
      `3=${rtmr3}`,
      "--expect-rtmr",
      `0=${zero}`,
      "--expect-mrconfigid",
      "00",
    );
    assertEquals(good.code, 0, good.out);
    assertMatch(good.out, /verification: OK/);

    // Each mismatch is named.
    const other = "ab".repeat(48);
    const otherId = id.slice(0, -1) + (id.endsWith("0") ? "1" : "0");
    const bad = await aconctl(
      "verify",
      file,
      "--allow-sim",
      "--expect-image",
      otherId,
      "--expect-mrtd",
      other,
      "--expect-rtmr",
      `3=${other}`,
      "--expect-mrconfigid",
      other,
    );
    assertEquals(bad.code, 1);
    for (
      const re of [
        `ERROR: MRTD is ${mrtd}, expected ${other}`,
        `ERROR: MRCONFIGID is ${zero}, expected ${other}`,
        `ERROR: RTMR3 is ${rtmr3}, expected ${other}`,
        `ERROR: expected image ${otherId} was not measured`,
        `ERROR: image ${id} was measured but is not expected`,
      ]
    ) assertOk(bad.out.includes(re), `${re} in\n${bad.out}`);
    // Two images expected, one measured.
    const two = await aconctl(
      "verify",
      file,
      "--allow-sim",
      "--expect-image",
      id,
      "--expect-image",
      otherId,
    );
    assertEquals(two.code, 1);
    assertOk(two.out.includes(`expected image ${otherId} was not measured`));

    // The same as a policy file; a flag replaces the policy's value; unknown keys are refused.
    const policy = `${d.dir}/policy.json`;
    await Deno.writeTextFile(
      policy,
      JSON.stringify({
        images: [id],
        mrtd,
        rtmr: { "3": rtmr3 },
        requireFinalize: true,
        allowSim: true,
      }),
    );
    assertEquals((await aconctl("verify", file, "--policy", policy)).code, 0);
    const over = await aconctl("verify", file, "--policy", policy, "--expect-mrtd", other);
    assertEquals(over.code, 1);
    assertOk(over.out.includes(`MRTD is ${mrtd}, expected ${other}`));
    await Deno.writeTextFile(policy, JSON.stringify({ image: [id], allowSim: true }));
    const typo = await aconctl("verify", file, "--policy", policy);
    assertEquals(typo.code, 2);
    assertMatch(typo.out, /unknown key "image"/);
    // Without --allow-sim (as a relying party would run it) sim evidence is refused.
    const strict = await aconctl("verify", file);
    assertEquals(strict.code, 1);
    assertMatch(strict.out, /ERROR: the evidence is simulated/);
    // --json: readable values.
    const j = JSON.parse((await aconctl("--json", "verify", file, "--allow-sim")).out);
    assertEquals([j.ok, j.mrtd, j.rtmr3, j.images], [true, mrtd, rtmr3, [id]]);
  } finally {
    await d.stop();
  }
});

Deno.test("bundle: a debug TD is refused unless --allow-debug; --help lists the flags", async () => {
  const d = await startDaemon();
  try {
    const file = `${d.dir}/tdreport.json`;
    assertEquals((await aconctl("--socket", d.socket, "report", "--out", file)).code, 0);
    const b = JSON.parse(await Deno.readTextFile(file));
    assertEquals(b.evidence, "tdreport");
    assertEquals((await aconctl("verify", file, "--allow-sim")).code, 0);
    // TD ATTRIBUTES (TDREPORT offset 512) bit 0: DEBUG. The sim TDREPORT is unsigned, so only the
    // attribute check can refuse it.
    const data = b.data as string;
    b.data = data.slice(0, 1024) + "01" + data.slice(1026);
    await Deno.writeTextFile(file, JSON.stringify(b));
    const dbg = await aconctl("verify", file, "--allow-sim");
    assertEquals(dbg.code, 1);
    assertMatch(dbg.out, /TD attrs: +0000000000000001 \(DEBUG\)/);
    assertMatch(dbg.out, /ERROR: the TD is a debug TD \(TD attributes bit 0\)/);
    assertEquals((await aconctl("verify", file, "--allow-sim", "--allow-debug")).code, 0);
    const h = await aconctl("verify", "--help");
    assertEquals(h.code, 0);
    for (
      const f of ["--expect-image", "--expect-rtmr N=HEX", "--policy FILE", "--allow-unsigned"]
    ) {
      assertOk(h.out.includes(f), f);
    }
  } finally {
    await d.stop();
  }
});

Deno.test("bundle with a real DCAP quote: refused without collateral (saying how), checked with it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A real quote with a log and JSON it does not bind: the DCAP chain is checked (and passes),
    // the binding checks fail; without collateral the verifier says how to give it.
    const file = `${dir}/real.json`;
    const quote = Deno.readFileSync(V4_QUOTE);
    const bundle = {
      format: "acond-evidence/1",
      createdAt: "2025-06-20T00:00:00Z",
      tee: "tdx",
      canMeasure: true,
      teeNote: "",
      evidence: "quote",
      nonce: "00",
      data: toHex(quote),
      rtmr3Log: [],
      attestationData: "{}",
    };
    await Deno.writeTextFile(file, JSON.stringify(bundle));
    const none = await aconctl("verify", file);
    assertEquals(none.code, 1);
    assertMatch(none.out, /ERROR: real DCAP quote, .*give --collateral FILE or --pccs URL/);
    const at = ["--at", "2025-06-20T00:00:00Z"];
    const withCol = await aconctl("verify", file, "--collateral", V4_COLLATERAL, ...at);
    assertEquals(withCol.code, 1);
    assertMatch(withCol.out, /DCAP: OK at 2025-06-20/);
    assertMatch(withCol.out, /TCB status: +UpToDate/);
    assertMatch(withCol.out, /ERROR: REPORTDATA is not sha384/);
    assertOk(!/ERROR: DCAP/.test(withCol.out), withCol.out);
    // The collateral inside the bundle is used offline; expired collateral is named.
    await Deno.writeTextFile(
      file,
      JSON.stringify({ ...bundle, collateral: JSON.parse(await Deno.readTextFile(V4_COLLATERAL)) }),
    );
    assertMatch((await aconctl("verify", file, ...at)).out, /DCAP: OK/);
    const late = await aconctl("verify", file, "--at", "2025-08-01T00:00:00Z");
    assertMatch(late.out, /ERROR: DCAP: TCBInfo expired/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
