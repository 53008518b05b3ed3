/** aconctl verify-quote on the real samples: exit status, --json, --help, --pccs. */
import { assertEquals, assertMatch, assertOk } from "../../helpers/assert.ts";
import { fakePccs, V4_COLLATERAL, V4_QUOTE, V5_COLLATERAL, V5_QUOTE } from "../../helpers/dcap.ts";

const ACONCTL = new URL("../../../src/cli/aconctl.ts", import.meta.url).pathname;

async function aconctl(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", ACONCTL, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("verify-quote: the v4 sample with its collateral is OK; --json is readable", async () => {
  const r = await aconctl(
    "--json",
    "verify-quote",
    V4_QUOTE,
    "--collateral",
    V4_COLLATERAL,
    "--at",
    "2025-06-20T00:00:00Z",
  );
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals([j.ok, j.dcap.status, j.collateralShape], [true, "UpToDate", "dcap-qvl"]);
  assertEquals(j.quote.tdAttributes.debug, false);
  assertMatch(j.quote.mrTd, /^91eb2b44/);
  const text = await aconctl(
    "verify-quote",
    V4_QUOTE,
    "--collateral",
    V4_COLLATERAL,
    "--at",
    "1750377600",
  );
  assertEquals(text.code, 0);
  assertMatch(text.stdout, /ATTRIBUTES: +0000000010000000: not debug, SEPT_VE_DISABLE/);
  assertMatch(text.stdout, /DCAP: OK at 2025-06-20T00:00:00.000Z/);
});

Deno.test("verify-quote: fails without collateral, when expired, or when no TCB level applies", async () => {
  const none = await aconctl("verify-quote", V4_QUOTE);
  assertEquals(none.code, 1);
  assertMatch(none.stdout, /NOT CHECKED: .*--collateral FILE/);
  assertMatch(none.stdout, /MRTD: +91eb2b44/);
  const expired = await aconctl(
    "verify-quote",
    V4_QUOTE,
    "--collateral",
    V4_COLLATERAL,
    "--at",
    "2025-08-01T00:00:00Z",
  );
  assertEquals(expired.code, 1);
  assertMatch(expired.stdout, /ERROR: DCAP: TCBInfo expired/);
  const v5 = await aconctl(
    "verify-quote",
    V5_QUOTE,
    "--collateral",
    V5_COLLATERAL,
    "--at",
    "2026-02-19T00:00:00Z",
  );
  assertEquals(v5.code, 1);
  assertMatch(v5.stdout, /quote: +v5, TD 1.5 body/);
  assertMatch(v5.stdout, /No matching TCB level/);
  const status = await aconctl(
    "verify-quote",
    V4_QUOTE,
    "--collateral",
    V4_COLLATERAL,
    "--at",
    "2025-06-20T00:00:00Z",
    "--accept-status",
    "OutOfDate",
  );
  assertEquals(status.code, 1);
  const usage = await aconctl("verify-quote", V4_QUOTE, "--accept-status", "Fine");
  assertEquals(usage.code, 2);
  assertMatch(usage.stderr, /unknown TCB status "Fine"/);
});

Deno.test("verify-quote --help and --pccs", async () => {
  const h = await aconctl("verify-quote", "--help");
  assertEquals(h.code, 0);
  assertMatch(h.stdout, /--accept-status/);
  assertMatch(h.stdout, /Exit status/);
  const pccs = fakePccs(V4_COLLATERAL);
  try {
    const r = await aconctl(
      "--json",
      "verify-quote",
      V4_QUOTE,
      "--pccs",
      pccs.url,
      "--at",
      "2025-06-20T00:00:00Z",
    );
    assertEquals(r.code, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals([j.ok, j.collateralShape], [true, "intel-pcs-v4"]);
    assertOk(pccs.requests.length === 4);
  } finally {
    await pccs.close();
  }
});
