import { assertEquals } from "../../helpers/assert.ts";
import { computeImageId, parseImageId, parseLayerRef } from "../../../src/image/ids.ts";
import { atLeast } from "../../../src/digest_boot.ts";
import { hexDigest } from "../../../src/digest.ts";

const acond = new TextEncoder().encode("acond");
const V = {
  sha256: "ebc7a2f333142d0a69f6e85df32d5bc2c3ed3e0bb637b8f914643616e0c2ca18",
  sha384:
    "29c19882a38552dbd97e59918de0f41186f8cbd05e90b6fc49dcca1a7e96efcfecd66cc224fea72c634eb3a490853c27",
  sha512:
    "160d7d1ad88694658ed0bef536803ecea15b34d72fb0fd8bb70830c9b3f9552e260787b488fcc3d43000647301eafe8a695821634f8fe30209cd4f67ed6810ff",
} as const;

Deno.test('ID vectors of behaviour file §4.4 ("acond")', () => {
  for (const alg of ["sha256", "sha384", "sha512"] as const) {
    assertEquals(hexDigest(alg, acond), V[alg]);
    const id = computeImageId(alg, acond, acond);
    assertEquals(id.id, `${alg}/${V[alg]}/${V[alg]}`);
    assertEquals(parseImageId(id.id), {
      alg,
      signerDigest: V[alg],
      manifestDigest: V[alg],
    });
  }
});

Deno.test("image ids: malformed ones are refused", () => {
  for (
    const bad of [
      "",
      "sha384",
      `sha384/${V.sha384}`,
      `sha384/${V.sha256}/${V.sha256}`,
      `sha256/${V.sha256}/${V.sha256.toUpperCase()}`,
      `md5/${V.sha256}/${V.sha256}`,
      `sha256/${V.sha256}/${V.sha256}/x`,
      `sha256/../${V.sha256}`,
    ]
  ) assertEquals(parseImageId(bad), null, bad);
});

Deno.test("layer refs: alg/hex and signer/alg/signerhex/alias, lengths checked", () => {
  assertEquals(parseLayerRef(`sha384/${V.sha384}`), {
    kind: "digest",
    alg: "sha384",
    hex: V.sha384,
  });
  assertEquals(parseLayerRef(`signer/sha256/${V.sha256}/Base:1`), {
    kind: "alias",
    alg: "sha256",
    signer: V.sha256,
    alias: "Base:1",
  });
  const bad: [string, RegExp][] = [
    [`sha384/${V.sha256}`, /96 lowercase hex/],
    [`sha1/${V.sha256}`, /unknown hash/],
    [`sha256/${V.sha256.slice(1)}g`, /64 lowercase hex/],
    [`signer/sha384/${V.sha256}/x`, /signer digest must be 96/],
    [`signer/sha256/${V.sha256}/..`, /alias/],
    [`signer/sha256/${V.sha256}/`, /alias is empty/],
    [`signer/sha256/${V.sha256}/a/b`, /expected/],
    [`../sha384/${V.sha384}`, /expected/],
    ["", /expected/],
  ];
  for (const [ref, re] of bad) {
    const r = parseLayerRef(ref);
    assertEquals(typeof r, "string", ref);
    assertEquals(re.test(r as string), true, `${ref}: ${r}`);
  }
});

Deno.test("hash strength order", () => {
  assertEquals(atLeast("sha256", "sha384"), false);
  assertEquals(atLeast("sha384", "sha384"), true);
  assertEquals(atLeast("sha512", "sha384"), true);
  assertEquals(atLeast("sha256", "sha256"), true);
});
