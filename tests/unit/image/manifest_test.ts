import fc from "fast-check";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  baseManifest,
  canonicalJson,
  jqCanonical,
  MALFORMED_MANIFESTS as MALFORMED,
} from "../../helpers/image.ts";

const H384 = "a".repeat(96);
const L384 = `sha384/${H384}`;
const L256 = `sha256/${"b".repeat(64)}`;
import { parseManifest } from "../../../src/image/manifest.ts";
import { AcondError } from "../../../src/errors.ts";
import type { HashAlg } from "../../../src/digest.ts";

function parse(m: Record<string, unknown> | string, min: HashAlg = "sha384") {
  return parseManifest(typeof m === "string" ? m : canonicalJson(baseManifest(m)), min);
}

for (const [name, m, re, min] of MALFORMED) {
  Deno.test(`manifest refused: ${name}`, () => {
    assertThrows(() => parse(m, min), (e: unknown) => {
      assertEquals(e instanceof AcondError && e.code === "invalid_argument", true, String(e));
      assertEquals(re.test((e as Error).message), true, (e as Error).message);
      return true;
    });
  });
}

Deno.test("a full valid manifest parses with every field", () => {
  const m = parse({
    layers: [L384, `signer/sha512/${"d".repeat(128)}/Base:3`],
    aliases: { self: { ".": ["App:2", "App:1"] }, contents: { [L384]: ["Base:1"] } },
    entrypoint: ["/bin/sh", "-c", "true"],
    env: ["A=1", "B"],
    workingDir: "/work",
    uids: [1000, 1001],
    logFDs: [1, 2],
    writableFS: true,
    noRestart: true,
    signals: [0, -9, 15],
    maxInstances: 0,
    policy: { accepts: ["sha384/*/" + H384], rejectUnaccepted: true },
    _vendor: { anything: [1, "x"] },
  });
  assertEquals(m.layers.length, 2);
  assertEquals(m.aliases.self["."], ["App:2", "App:1"]);
  assertEquals(m.aliases.contents[L384], ["Base:1"]);
  assertEquals(m.signals, [0, -9, 15]);
  assertEquals(m.maxInstances, 0);
  assertEquals(m.policy.rejectUnaccepted, true);
});

Deno.test("defaults: optional fields absent", () => {
  const m = parseManifest(
    '{"aconSpecVersion":[1,0],"aliases":{},"policy":{},"signals":[],"workingDir":""}',
    "sha384",
  );
  assertEquals(m.layers, []);
  assertEquals(m.entrypoint, []);
  assertEquals(m.uids, []);
  assertEquals(m.writableFS, false);
  assertEquals(m.noRestart, false);
  assertEquals(m.maxInstances, 1);
  assertEquals(m.policy, { accepts: [], rejectUnaccepted: false });
  assertEquals(m.aliases, { contents: {}, self: {} });
});

Deno.test("min-hash sha256 accepts sha256 layers (ACON-era images)", () => {
  assertEquals(parse({ layers: [L256] }, "sha256").layers, [L256]);
});

Deno.test("canonicalJson equals real jq -jcS", async () => {
  const samples: unknown[] = [
    baseManifest(),
    baseManifest({ _x: 'a\u007f<>&é\u0001\n"\\', env: ["Z=1", "A=ü"], uids: [1, 2] }),
    { b: [1, { d: null, c: true }], a: "", "": 0, Z: -1.5 },
  ];
  for (const s of samples) assertEquals(canonicalJson(s), await jqCanonical(s));
});

Deno.test("duplicate-key check: same key in other objects, arrays and strings is fine", () => {
  const m = parse({
    _x: { policy: 1, aliases: { a: 1 } },
    _y: '{"a":1,"a":2}',
    _z: [{ a: 1 }, { a: 2 }, "a", "a"],
    env: ["a", "a"],
  });
  assertEquals(m.env, ["a", "a"]);
});

Deno.test("property: any text or JSON value is either a manifest or an InvalidArgument", () => {
  const check = (text: string) => {
    try {
      parseManifest(text, "sha384");
    } catch (e) {
      assertEquals(e instanceof AcondError && e.code === "invalid_argument", true, String(e));
    }
  };
  fc.assert(fc.property(fc.string(), check), { numRuns: 300 });
  fc.assert(fc.property(fc.json(), check), { numRuns: 300 });
  // Mutations of a valid manifest: each field replaced by an arbitrary JSON value.
  const keys = Object.keys(baseManifest());
  fc.assert(
    fc.property(fc.constantFrom(...keys), fc.jsonValue(), (k, v) => {
      check(canonicalJson(baseManifest({ [k]: v })));
    }),
    { numRuns: 500 },
  );
});

Deno.test("alias maps that are not objects are an InvalidArgument naming the field (not a TypeError)", () => {
  for (const field of ["contents", "self"]) {
    for (const v of [null, "x", [], 1]) {
      assertThrows(
        () => parse({ aliases: { [field]: v } }),
        (e: unknown) =>
          e instanceof AcondError && e.code === "invalid_argument" &&
          e.message.startsWith(`Invalid manifest: aliases.${field} must be an object, not `),
      );
    }
  }
});

Deno.test("property: nested fields (aliases, policy) replaced by any JSON value give a manifest or an InvalidArgument", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(["aliases", "contents"], ["aliases", "self"], ["policy", "accepts"], [
        "policy",
        "rejectUnaccepted",
      ]),
      fc.jsonValue(),
      ([outer, inner], v) => {
        try {
          parse({ [outer]: { [inner]: v } });
        } catch (e) {
          assertEquals(e instanceof AcondError && e.code === "invalid_argument", true, String(e));
        }
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("a 1 MiB alias map of tiny keys is refused at its first bad key (linear, not quadratic)", () => {
  const self: Record<string, string[]> = { ".": [] };
  for (let i = 0; i < 80000; i++) self[`k${i}`] = []; // 12 bytes each: just under 1 MiB
  const contents: Record<string, string[]> = {};
  for (let i = 0; i < 12000; i++) contents[`sha384/${i.toString(16).padStart(96, "0")}`] = [];
  assertThrows(
    () => parse({ aliases: { self } }),
    /aliases\.self has key "k0": only "\." \(this image\) is allowed/,
  );
  assertEquals(Object.keys(parse({ aliases: { contents } }).aliases.contents).length, 12000);
});

Deno.test("errors quote manifest text bounded (a huge key is not echoed whole)", () => {
  const big = "k".repeat(300 * 1000);
  const cases: string[] = [
    canonicalJson(baseManifest({ [big]: 1 })),
    canonicalJson(baseManifest({ policy: { [big]: 1 } })),
    canonicalJson(baseManifest({ aliases: { self: { [big]: [] } } })),
    canonicalJson(baseManifest({ aliases: { contents: { [big]: [] } } })),
    canonicalJson(baseManifest({ aliases: { contents: { [L384]: [big] } } })),
    canonicalJson(baseManifest({ layers: [big] })),
    `{"_x":{"${big}":1,"${big}":2},` + canonicalJson(baseManifest()).slice(1),
  ];
  for (const text of cases) {
    assertThrows(() => parse(text), (e: unknown) => {
      assertEquals(e instanceof AcondError && e.code === "invalid_argument", true, String(e));
      assertEquals((e as Error).message.length < 1000, true, (e as Error).message.slice(0, 300));
      return true;
    });
  }
});
