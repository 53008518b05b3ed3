/**
 * Launch policy (src/policy): ACON's pinned cases (behaviour file §5, 001–011), its accept_image
 * vectors (errors adapted to InvalidArgument), and the graph rule of Image.md where it differs from
 * ACON's pairwise approximation. Property tests: tests/unit/policy/policy_property_test.ts.
 */
import { assertEquals, assertOk, assertThrows } from "../../helpers/assert.ts";
import { AcondError, MSG } from "../../../src/errors.ts";
import { hexDigest } from "../../../src/digest.ts";
import {
  evaluatePolicy,
  type PolicyImage,
  ruleMatches,
  validateRules,
} from "../../../src/policy/policy.ts";

type Alg = "sha256" | "sha384" | "sha512";

const SIGNER_A = hexDigest("sha256", "signer A certificate");
const SIGNER_B = hexDigest("sha256", "signer B certificate");

function image(
  name: string,
  opts: Partial<PolicyImage> & { alg?: Alg } = {},
): PolicyImage {
  const alg = opts.alg ?? "sha256";
  return {
    alg,
    signerDigest: opts.signerDigest ?? hexDigest(alg, "signer A certificate"),
    manifestDigest: opts.manifestDigest ?? hexDigest(alg, `manifest ${name}`),
    selfAliases: opts.selfAliases ?? ["SomeProduct:2", "SomeProduct:1", "SomeProduct:0"],
    accepts: opts.accepts ?? [],
    rejectUnaccepted: opts.rejectUnaccepted ?? false,
  };
}

const id = (i: PolicyImage) => `${i.alg}/${i.signerDigest}/${i.manifestDigest}`;

function isInvalid(prefix: string, detail?: RegExp) {
  return (e: unknown) => {
    assertOk(e instanceof AcondError, `expected AcondError, got ${e}`);
    assertEquals(e.code, "invalid_argument");
    assertOk(e.message.startsWith(prefix + ": "), e.message);
    if (detail) assertOk(detail.test(e.message), e.message);
    return true;
  };
}

// ---- ACON's pinned cases (§5). Same signer; "accepts" by exact id. ----

Deno.test("001/002: empty pod accepts regardless of the incoming flag", () => {
  assertEquals(evaluatePolicy(image("n"), []), { accepted: true });
  assertEquals(evaluatePolicy(image("n", { rejectUnaccepted: true }), []), { accepted: true });
});

Deno.test("003: no rejecting incumbent, incoming not rejecting: accept", () => {
  assertEquals(evaluatePolicy(image("n"), [image("i")]), { accepted: true });
});

Deno.test("004: rejecting incumbent with empty accepts refuses a non-rejecting image", () => {
  const inc = image("i", { rejectUnaccepted: true });
  const n = image("n");
  const r = evaluatePolicy(n, [inc]);
  assertEquals(r.accepted, false);
  assertEquals(
    r.reason,
    `image ${id(inc)} (rejectUnaccepted) does not accept image ${
      id(n)
    }, directly or through the images it accepts`,
  );
});

Deno.test("005: both rejecting, incumbent accepts nothing: reject", () => {
  const n = image("n", { rejectUnaccepted: true, accepts: [id(image("i"))] });
  const r = evaluatePolicy(n, [image("i", { rejectUnaccepted: true })]);
  assertEquals(r.accepted, false);
});

Deno.test("006: incoming rejecting with empty accepts refuses to join a non-rejecting one", () => {
  const n = image("n", { rejectUnaccepted: true });
  const i = image("i");
  const r = evaluatePolicy(n, [i]);
  assertEquals(r.accepted, false);
  assertOk(r.reason!.includes(`image ${id(n)} (rejectUnaccepted) does not accept image ${id(i)}`));
});

Deno.test("007: incoming rejecting accepts incumbent, rejecting incumbent does not: reject", () => {
  const i = image("i", { rejectUnaccepted: true });
  const n = image("n", { rejectUnaccepted: true, accepts: [id(i)] });
  const r = evaluatePolicy(n, [i]);
  assertEquals(r.accepted, false);
  assertOk(r.reason!.includes(`image ${id(i)} (rejectUnaccepted) does not accept image ${id(n)}`));
});

Deno.test("008: rejecting incumbent accepts incoming rejecting image that does not: reject", () => {
  const n = image("n", { rejectUnaccepted: true });
  const i = image("i", { rejectUnaccepted: true, accepts: [id(n)] });
  const r = evaluatePolicy(n, [i]);
  assertEquals(r.accepted, false);
  assertOk(r.reason!.includes(`image ${id(n)} (rejectUnaccepted) does not accept image ${id(i)}`));
});

Deno.test("009: rejecting incumbent accepts the non-rejecting incoming image: accept", () => {
  const n = image("n");
  assertEquals(evaluatePolicy(n, [image("i", { rejectUnaccepted: true, accepts: [id(n)] })]), {
    accepted: true,
  });
});

Deno.test("010: incoming rejecting accepts a non-rejecting incumbent: accept", () => {
  const i = image("i");
  assertEquals(evaluatePolicy(image("n", { rejectUnaccepted: true, accepts: [id(i)] }), [i]), {
    accepted: true,
  });
});

Deno.test("011: mutual acceptance between two rejecting images: accept", () => {
  const n0 = image("n");
  const i = image("i", { rejectUnaccepted: true, accepts: [id(n0)] });
  const n = image("n", { rejectUnaccepted: true, accepts: [id(i)] });
  assertEquals(evaluatePolicy(n, [i]), { accepted: true });
});

// ---- accept_image vectors (§5); ACON's Unknown errors are InvalidArgument here. ----

const target = image("t");

Deno.test("vector: a 2-part rule is a format error", () => {
  assertThrows(
    () => ruleMatches(`sha256/${target.manifestDigest}`, target),
    isInvalid(MSG.policyFormat, /3 parts/),
  );
});

Deno.test("vector: signer match with an alias missing its svn is a format error", () => {
  assertThrows(
    () => ruleMatches(`sha256/${SIGNER_A}/Product`, target),
    isInvalid(MSG.policyFormat, /manifest must be/),
  );
});

Deno.test("vector: a self alias without svn read by an alias rule is an alias-format error", () => {
  const t = image("t", { selfAliases: ["Product"] });
  assertThrows(
    () => ruleMatches(`sha256/${SIGNER_A}/Product:1`, t),
    isInvalid(MSG.aliasFormat, /"Product"/),
  );
});

Deno.test("vector: alg/*/<manifest digest> matches by digest", () => {
  assertOk(ruleMatches(`sha256/*/${target.manifestDigest}`, target));
  assertOk(!ruleMatches(`sha256/*/${image("other").manifestDigest}`, target));
});

Deno.test("vector: alg/<signer>/* matches any image of that signer", () => {
  assertOk(ruleMatches(`sha256/${SIGNER_A}/*`, target));
  assertOk(!ruleMatches(`sha256/${SIGNER_B}/*`, target));
});

Deno.test("vector: svn comparisons (svn2 >= svn)", () => {
  const rule = `sha256/${SIGNER_A}/Product:1`;
  assertOk(!ruleMatches(rule, image("t", { selfAliases: ["Product:0"] })));
  assertOk(ruleMatches(rule, image("t", { selfAliases: ["Product:0", "Product:1"] })));
  assertOk(ruleMatches(rule, image("t", { selfAliases: ["Product:7"] })));
  assertOk(!ruleMatches(rule, image("t", { selfAliases: ["Other:9"] })));
  assertOk(!ruleMatches(rule, image("t", { selfAliases: [] })));
  // u64 bounds, compared exactly (beyond 2^53).
  const max = "18446744073709551615";
  assertOk(ruleMatches(`sha256/${SIGNER_A}/P:${max}`, image("t", { selfAliases: [`P:${max}`] })));
  assertOk(
    !ruleMatches(
      `sha256/${SIGNER_A}/P:${max}`,
      image("t", { selfAliases: ["P:18446744073709551614"] }),
    ),
  );
  assertOk(ruleMatches(`sha256/${SIGNER_A}/P:0`, image("t", { selfAliases: ["P:0"] })));
});

Deno.test("exact id and signer-bound digest rules", () => {
  assertOk(ruleMatches(id(target), target));
  // ACON matched the digest whatever the signer; here a named signer must be the image's.
  assertOk(!ruleMatches(`sha256/${SIGNER_B}/${target.manifestDigest}`, target));
});

Deno.test("alg must match the image's alg", () => {
  const t384 = image("t", { alg: "sha384" });
  assertOk(ruleMatches(id(t384), t384));
  assertOk(ruleMatches(`sha384/${t384.signerDigest}/*`, t384));
  assertOk(ruleMatches(`sha384/${t384.signerDigest}/SomeProduct:2`, t384));
  // Same signer and manifest bytes but a sha256 image: not matched by a sha384 rule.
  const t256 = image("t");
  assertOk(!ruleMatches(`sha384/${t384.signerDigest}/*`, t256));
  assertOk(!ruleMatches(`sha512/${"0".repeat(128)}/*`, t384));
  // ...nor a sha256 rule naming the sha256 signer against the sha384 image's fields.
  assertOk(!ruleMatches(`sha256/${SIGNER_A}/*`, t384));
  assertOk(!ruleMatches(`sha256/*/${t256.manifestDigest}`, t384));
});

Deno.test("alg is compared even when the digests would match (inconsistent caller data)", () => {
  // Valid rules carry digests of their alg's length, so a mismatch usually fails on length too;
  // the explicit comparison guards a caller that labels an image with the wrong alg.
  const mislabelled = image("t", { alg: "sha512", signerDigest: SIGNER_A });
  assertOk(!ruleMatches(`sha256/${SIGNER_A}/*`, mislabelled));
  assertOk(
    !ruleMatches(`sha256/*/${hexDigest("sha256", "manifest t")}`, {
      ...mislabelled,
      manifestDigest: hexDigest("sha256", "manifest t"),
    }),
  );
});

Deno.test("alias rules do not read aliases of other signers or algs (no error from them)", () => {
  const foreign = image("t", { signerDigest: SIGNER_B, selfAliases: ["latest"] });
  assertOk(!ruleMatches(`sha256/${SIGNER_A}/Product:1`, foreign));
  assertOk(!ruleMatches(`sha256/*/${"a".repeat(64)}`, foreign));
  assertOk(ruleMatches(`sha256/${SIGNER_B}/*`, foreign));
});

Deno.test("validateRules accepts the grammar", () => {
  validateRules([]);
  validateRules([
    `sha256/${SIGNER_A}/*`,
    `sha256/*/${"0".repeat(64)}`,
    `sha384/${"ab".repeat(48)}/${"cd".repeat(48)}`,
    `sha512/${"f".repeat(128)}/Name:18446744073709551615`,
    `sha256/${SIGNER_A}/a.b-c_d:007`,
  ]);
});

Deno.test("validateRules rejects each malformed shape with a detail", () => {
  const S = SIGNER_A;
  const cases: [string, RegExp][] = [
    ["", /3 parts/],
    ["sha256", /3 parts/],
    [`sha256/${S}/x/y`, /3 parts/],
    [`md5/${S}/*`, /unknown hash algorithm "md5"/],
    [`SHA256/${S}/*`, /unknown hash algorithm/],
    [`*/${S}/*`, /unknown hash algorithm/],
    [`constructor/${S}/*`, /unknown hash algorithm/],
    [`sha256/${S.toUpperCase()}/*`, /signer must be/],
    [`sha256/${S.slice(2)}/*`, /signer must be/],
    [`sha384/${S}/*`, /signer must be .*96/],
    [`sha256//*`, /signer must be/],
    [`sha256/*/*`, /every image/],
    [`sha256/*/Name:1`, /alias needs a signer/],
    [`sha256/${S}/Name`, /manifest must be/],
    [`sha256/${S}/`, /manifest must be/],
    [`sha256/${S}/${"A".repeat(64)}`, /manifest must be/],
    [`sha256/${S}/${"a".repeat(96)}`, /manifest must be/],
    [`sha256/${S}/Name:`, /alias must be/],
    [`sha256/${S}/:1`, /alias must be/],
    [`sha256/${S}/Name:1:2`, /alias must be/],
    [`sha256/${S}/Name:-1`, /alias must be/],
    [`sha256/${S}/Name:+1`, /alias must be/],
    [`sha256/${S}/Name:1.5`, /alias must be/],
    [`sha256/${S}/Name:18446744073709551616`, /alias must be/],
    [`sha256/${S}/Name:${"9".repeat(400)}`, /alias must be/],
  ];
  for (const [rule, detail] of cases) {
    assertThrows(() => validateRules([rule]), isInvalid(MSG.policyFormat, detail), rule);
  }
});

Deno.test("format errors quote the rule, bounded in length", () => {
  const long = "x".repeat(10_000);
  assertThrows(() => validateRules([long]), (e: unknown) => {
    assertOk(e instanceof AcondError);
    assertOk(e.message.length < 400, `message length ${e.message.length}`);
    assertOk(e.message.includes('"xxxx'));
    return true;
  });
});

// ---- Graph rule vs ACON's pairwise approximation. ----

Deno.test("transitivity: A (rejecting) accepts B, B accepts C: C is admitted", () => {
  const c = image("c");
  const b = image("b", { accepts: [id(c)] });
  const a = image("a", { rejectUnaccepted: true, accepts: [id(b)] });
  assertEquals(evaluatePolicy(c, [a, b]), { accepted: true });
  assertEquals(evaluatePolicy(c, [a]).accepted, false, "without B there is no path");
  // Three hops through alias, digest and signer rules: a2 -> b2 -> c2 -> d.
  const d = image("d", { signerDigest: SIGNER_B, selfAliases: ["Tool:4"] });
  const c2 = image("c2", { selfAliases: [], accepts: [`sha256/${SIGNER_B}/Tool:3`] });
  const b2 = image("b2", { accepts: [`sha256/*/${c2.manifestDigest}`] });
  const a2 = image("a2", { rejectUnaccepted: true, accepts: [`sha256/${SIGNER_A}/SomeProduct:2`] });
  assertEquals(evaluatePolicy(d, [a2, b2, c2]), { accepted: true });
  const a3 = image("a3", { rejectUnaccepted: true, accepts: [id(b2)] });
  assertEquals(evaluatePolicy(d, [a3, b2, c2]), { accepted: true });
  assertEquals(evaluatePolicy(d, [a3, b2]).accepted, false);
});

Deno.test("transitivity where ACON's pairwise rule refuses", () => {
  // No incumbent rejects; incoming N rejects and accepts only B; B accepts C. ACON required N to
  // accept every incumbent directly and refused; the graph rule admits N.
  const c = image("c");
  const b = image("b", { accepts: [id(c)] });
  assertEquals(
    evaluatePolicy(image("n", { rejectUnaccepted: true, accepts: [id(b)] }), [b, c]),
    { accepted: true },
  );
  const n2 = image("n2", { rejectUnaccepted: true, accepts: [id(c)] });
  const r = evaluatePolicy(n2, [b, c]);
  assertEquals(r.accepted, false);
  assertOk(r.reason!.includes(`image ${id(n2)} (rejectUnaccepted) does not accept image ${id(b)}`));
});

Deno.test("multi-rejecting graphs", () => {
  // r1 and r2 reject and accept each other: a valid pod.
  const r1 = image("r1", { rejectUnaccepted: true, accepts: [] });
  const r2 = image("r2", { rejectUnaccepted: true, accepts: [id(r1)] });
  r1.accepts.push(id(r2));
  const x = image("x", { accepts: [id(r1)] });
  r2.accepts.push(id(x));
  assertEquals(evaluatePolicy(x, [r1, r2]), { accepted: true });

  // A newcomer accepted by r2 only is reached from r1 through r2.
  const n = image("n");
  r2.accepts.push(id(n));
  assertEquals(evaluatePolicy(n, [r1, r2, x]), { accepted: true });

  // A rejecting newcomer that accepts only the non-rejecting x reaches r1 and r2 through x
  // (ACON required it to accept a rejecting image directly).
  const m = image("m", { rejectUnaccepted: true, accepts: [id(x)] });
  r1.accepts.push(id(m));
  assertEquals(evaluatePolicy(m, [r1, r2, x]), { accepted: true });

  // A rejecting newcomer nobody accepts: both rejecting incumbents are named, in id order.
  const lonely = image("lonely", { rejectUnaccepted: true, accepts: [id(r1)] });
  const d = evaluatePolicy(lonely, [r2, x, r1]);
  assertEquals(d.accepted, false);
  const [first, second] = [r1, r2].map(id).sort();
  assertEquals(
    d.reason,
    [first, second].map((r) =>
      `image ${r} (rejectUnaccepted) does not accept image ${
        id(lonely)
      }, directly or through the images it accepts`
    ).join("; "),
  );
});

Deno.test("svn in a graph: a rejecting image admits only new enough versions", () => {
  const r = image("r", { rejectUnaccepted: true, accepts: [`sha256/${SIGNER_B}/App:3`] });
  const old = image("old", { signerDigest: SIGNER_B, selfAliases: ["App:2"] });
  const cur = image("cur", { signerDigest: SIGNER_B, selfAliases: ["App:3"] });
  assertEquals(evaluatePolicy(old, [r]).accepted, false);
  assertEquals(evaluatePolicy(cur, [r]), { accepted: true });
});

Deno.test("alg mismatch in a graph: a sha384 rule does not admit a sha256 image", () => {
  const n = image("n");
  const r = image("r", {
    rejectUnaccepted: true,
    accepts: [`sha384/*/${hexDigest("sha384", "manifest n")}`, `sha384/${"0".repeat(96)}/*`],
  });
  assertEquals(evaluatePolicy(n, [r]).accepted, false);
});

Deno.test("the same image twice counts once (no self-acceptance needed)", () => {
  const r = image("r", { rejectUnaccepted: true });
  assertEquals(evaluatePolicy(r, [r]), { accepted: true });
  assertEquals(evaluatePolicy({ ...r, accepts: [...r.accepts] }, [r, r]), { accepted: true });
});

Deno.test("reason lists at most three failures and counts the rest", () => {
  const loaded = ["a", "b", "c", "d"].map((n) => image(n));
  const n = image("n", { rejectUnaccepted: true });
  const r = evaluatePolicy(n, loaded);
  assertEquals(r.accepted, false);
  assertEquals(r.reason!.split("; ").length, 4);
  assertOk(r.reason!.endsWith("; and 1 more"), r.reason);
});

Deno.test("a cycle of rejecting images shares one reach set: each still counts its failure", () => {
  // Five rejecting images of signer A accepting each other (one strongly connected component),
  // and a newcomer of signer B that none accepts: five failures, in image id order.
  const ring = ["a", "b", "c", "d", "e"].map((n) =>
    image(n, { rejectUnaccepted: true, accepts: [`sha256/${SIGNER_A}/*`] })
  );
  assertEquals(evaluatePolicy(ring[4], ring.slice(0, 4)), { accepted: true });
  const stranger = image("s", { signerDigest: SIGNER_B });
  const r = evaluatePolicy(stranger, ring);
  assertEquals(r.accepted, false);
  const first = [...ring].sort((x, y) => (id(x) < id(y) ? -1 : 1)).slice(0, 3);
  assertEquals(
    r.reason,
    first.map((x) =>
      `image ${id(x)} (rejectUnaccepted) does not accept image ${
        id(stranger)
      }, directly or through the images it accepts`
    ).join("; ") + "; and 2 more",
  );
  // The newcomer is accepted once one of the ring accepts it (through the cycle for the rest).
  const door = { ...ring[2], accepts: [...ring[2].accepts, id(stranger)] };
  assertEquals(evaluatePolicy(stranger, [ring[0], ring[1], door, ring[3], ring[4]]), {
    accepted: true,
  });
});

// ---- Errors are deterministic and checked before evaluating. ----

Deno.test("a malformed incoming rule is InvalidArgument even after a matching rule", () => {
  const i = image("i");
  const n = image("n", { rejectUnaccepted: true, accepts: [id(i), "bad"] });
  assertThrows(() => evaluatePolicy(n, [i]), isInvalid(MSG.policyFormat, /"bad"/));
  // ...and even when nothing rejects (the rules are checked first).
  assertThrows(
    () => evaluatePolicy(image("n", { accepts: ["bad"] }), []),
    isInvalid(MSG.policyFormat),
  );
});

Deno.test("the incoming image's malformed rule is reported before a loaded one's", () => {
  const l = image("a", { accepts: ["loaded-bad"] });
  const n = image("z", { accepts: ["incoming-bad"] });
  assertThrows(() => evaluatePolicy(n, [l]), isInvalid(MSG.policyFormat, /incoming-bad/));
});

Deno.test("a rule that reads a malformed self alias is InvalidArgument whatever the flags", () => {
  const t = image("t", { selfAliases: ["SomeProduct:2", "latest"] });
  const withRule = (reject: boolean) =>
    image("n", { rejectUnaccepted: reject, accepts: [`sha256/${SIGNER_A}/SomeProduct:1`] });
  for (const reject of [false, true]) {
    assertThrows(
      () => evaluatePolicy(withRule(reject), [t]),
      isInvalid(MSG.aliasFormat, /"latest"/),
    );
  }
  // ...also when an earlier rule already matched.
  const both = image("n", {
    rejectUnaccepted: true,
    accepts: [`sha256/${SIGNER_A}/*`, `sha256/${SIGNER_A}/SomeProduct:1`],
  });
  assertThrows(() => evaluatePolicy(both, [t]), isInvalid(MSG.aliasFormat, /"latest"/));
  // Aliases nobody's alias rule reads are not validated (ACON's behaviour, §4.7).
  assertEquals(evaluatePolicy(t, [image("i", { accepts: [`sha256/${SIGNER_A}/*`] })]), {
    accepted: true,
  });
});
