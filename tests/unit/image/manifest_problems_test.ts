/**
 * manifestProblems: every reason AddManifest would refuse a manifest, at once, in its order (the
 * first is what AddManifest reports: MALFORMED_MANIFESTS in manifest_test.ts checks those).
 */
import fc from "fast-check";
import { assertEquals } from "../../helpers/assert.ts";
import { baseManifest, canonicalJson } from "../../helpers/image.ts";
import { acceptManifest, manifestProblems } from "../../../src/image/manifest.ts";

const L384 = `sha384/${"a".repeat(96)}`;
const text = (over: Record<string, unknown>) => canonicalJson(baseManifest(over));

Deno.test("manifestProblems lists every problem of a manifest, field by field", () => {
  const problems = manifestProblems(
    canonicalJson({
      ...baseManifest({
        aconSpecVersion: [2, 0],
        layers: ["sha384/xyz", L384, L384],
        uids: [0, 7, 7, -1],
        writableFS: "yes",
        signals: [15, 0],
        policy: { accept: [], rejectUnaccepted: 1 },
        workingDir: undefined,
      }),
      foo: 1,
    }),
    "sha384",
  );
  assertEquals(problems, [
    'Invalid manifest: manifest has unknown field "foo" (vendor fields must start with "_")',
    'Invalid manifest: manifest lacks the required field "workingDir"',
    "Invalid manifest: aconSpecVersion major version 2 is not supported (1)",
    'Invalid manifest: layers[0] "sha384/xyz": digest must be 96 lowercase hex digits for sha384',
    "Invalid manifest: uids[0] must be between 1 and 4294967294, not 0",
    "Invalid manifest: uids[3] must be between 1 and 4294967294, not -1",
    "Invalid manifest: writableFS must be a boolean, not a string",
    "Invalid manifest: signals[1] must not be 0 (only signals[0] may be 0)",
    'Invalid manifest: policy has unknown field "accept"',
    "Invalid manifest: policy.rejectUnaccepted must be a boolean, not a number",
  ]);
});

Deno.test("manifestProblems: Start's rules on the fields whose format is right", () => {
  assertEquals(
    manifestProblems(text({ entrypoint: [], env: ["A=1", "=x"], uids: [7] }), "sha384", 7),
    [
      "Invalid entrypoint: entrypoint must not be empty (Start runs it)",
      'Format error of environment array in manifest. env[1] "=x" has no variable name',
      "Invalid manifest: uids[0] must not be the overflow uid 7",
    ],
  );
  // A field whose format is wrong is not checked again against Start's rules.
  assertEquals(manifestProblems(text({ layers: [L384], entrypoint: [] }), "sha384"), [
    "Invalid manifest: entrypoint must not be empty for an image with layers",
  ]);
  assertEquals(manifestProblems(text({}), "sha384"), []);
  assertEquals(manifestProblems("{", "sha384").length, 1);
});

Deno.test("property: AddManifest's error is manifestProblems' first; none when it accepts", () => {
  const keys = Object.keys(baseManifest());
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...keys), fc.jsonValue(), { maxKeys: 4 }), (o) => {
      const t = text(o);
      const problems = manifestProblems(t, "sha384");
      try {
        acceptManifest(t, "sha384");
        assertEquals(problems, []);
      } catch (e) {
        assertEquals((e as Error).message, problems[0]);
      }
    }),
    { numRuns: 500 },
  );
});
