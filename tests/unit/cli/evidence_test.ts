/** The verification flags and the policy file: values normalised, bad ones refused by name. */
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { readPolicy, verifySettings } from "../../../src/cli/evidence.ts";
import { UsageError } from "../../../src/cli/command.ts";

const H = "AB".repeat(48);

Deno.test("reference-value flags: hex normalised; MRCONFIGID padded; bad values are usage errors", () => {
  const s = verifySettings({
    "expect-image": ["a", "b"],
    "expect-mrtd": `0x${H}`,
    "expect-rtmr": [`0=${H}`, `3=${"cd".repeat(48)}`],
    "expect-mrconfigid": "11".repeat(32),
  });
  assertEquals(s.expect, {
    images: ["a", "b"],
    mrTd: H.toLowerCase(),
    rtmr: { 0: H.toLowerCase(), 3: "cd".repeat(48) },
    mrConfigId: "11".repeat(32) + "0".repeat(32),
  });
  assertEquals(s.acceptStatus, ["UpToDate"]);
  for (
    const [v, re] of [
      [{ "expect-mrtd": "abc" }, /not hex bytes/],
      [{ "expect-mrtd": "ab" }, /must be 48 bytes/],
      [{ "expect-rtmr": [`4=${H}`] }, /N in 0\.\.3/],
      [{ "expect-rtmr": [H] }, /N=HEX/],
      [{ "expect-mrconfigid": "zz" }, /not hex/],
      [{ "accept-status": "Good" }, /unknown TCB status/],
      [{ at: "yesterday" }, /--at takes/],
    ] as const
  ) {
    assertThrows(
      () => verifySettings(v),
      (e: Error) => e instanceof UsageError && re.test(e.message),
    );
  }
});

Deno.test("--policy: the same keys; unknown keys and wrong types are refused; flags win", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = `${dir}/p.json`;
    Deno.writeTextFileSync(
      f,
      JSON.stringify({
        images: ["x"],
        mrtd: H,
        rtmr: { "2": H },
        mrConfigId: "00",
        requireFinalize: true,
        allowDebug: false,
        acceptStatus: ["UpToDate", "SWHardeningNeeded"],
      }),
    );
    const s = verifySettings({ policy: f, "expect-image": ["y"] });
    assertEquals(s.expect.images, ["y"]);
    assertEquals(s.expect.rtmr, { 2: H.toLowerCase() });
    assertEquals(s.expect.mrConfigId, "0".repeat(96));
    assertEquals([s.requireFinalize, s.allowDebug, s.allowSim], [true, false, false]);
    assertEquals(s.acceptStatus, ["UpToDate", "SWHardeningNeeded"]);
    assertEquals(verifySettings({ policy: f, "accept-status": "OutOfDate" }).acceptStatus, [
      "OutOfDate",
    ]);
    for (
      const [p, re] of [
        [{ mrtd: H, allowdebug: true }, /unknown key "allowdebug"/],
        [{ images: "x" }, /images must be a list/],
        [{ rtmr: { "5": H } }, /rtmr index "5"/],
        [{ allowSim: "yes" }, /allowSim must be a boolean/],
        [[1], /must be a JSON object/],
      ] as const
    ) {
      Deno.writeTextFileSync(f, JSON.stringify(p));
      assertThrows(
        () => readPolicy(f),
        (e: Error) => e instanceof UsageError && re.test(e.message),
      );
    }
    Deno.writeTextFileSync(f, "{");
    assertThrows(() => readPolicy(f), /--policy/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
