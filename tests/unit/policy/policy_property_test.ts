/**
 * Property tests of the launch policy (fast-check). Images are drawn from a small universe (two
 * algs, two signers per alg, a few alias names and svns) so that generated rules often match.
 */
import fc from "fast-check";
import { assertEquals, assertOk } from "../../helpers/assert.ts";
import { AcondError, MSG } from "../../../src/errors.ts";
import { hexDigest } from "../../../src/digest.ts";
import {
  evaluatePolicy,
  type PolicyImage,
  ruleMatches,
  validateRules,
} from "../../../src/policy/policy.ts";

const ALGS = ["sha256", "sha384"] as const;
const signers = (alg: string) => [0, 1].map((i) => hexDigest(alg as "sha256", `signer ${i}`));
const NAMES = ["App", "Lib"];
const RUNS = { numRuns: 300 };

const aliasArb = fc.tuple(fc.constantFrom(...NAMES), fc.integer({ min: 0, max: 3 }))
  .map(([n, v]) => `${n}:${v}`);

/** A well-formed rule over the universe; `manifests` lets rules name digests that occur. */
const ruleArb = (manifests: string[]) =>
  fc.constantFrom(...ALGS).chain((alg) => {
    const signer = fc.constantFrom(...signers(alg));
    const ofAlg = manifests.filter((m) => m.length === hexLen(alg));
    const options = [
      signer.map((s) => `${alg}/${s}/*`),
      fc.tuple(signer, aliasArb).map(([s, a]) => `${alg}/${s}/${a}`),
    ];
    if (ofAlg.length > 0) {
      const digest = fc.constantFrom(...ofAlg);
      options.push(digest.map((d) => `${alg}/*/${d}`));
      options.push(fc.tuple(signer, digest).map(([s, d]) => `${alg}/${s}/${d}`));
    }
    return fc.oneof(...options);
  });

function hexLen(alg: string): number {
  return alg === "sha256" ? 64 : 96;
}

interface Pod {
  incoming: PolicyImage;
  loaded: PolicyImage[];
}

/** 1–6 images with distinct ids; the last is the incoming one. */
const podArb: fc.Arbitrary<Pod> = fc.integer({ min: 1, max: 6 }).chain((n) => {
  const shapes = fc.array(
    fc.record({
      alg: fc.constantFrom(...ALGS),
      signer: fc.integer({ min: 0, max: 1 }),
      aliases: fc.array(aliasArb, { maxLength: 2 }),
      // About one image in four rejects, so larger pods are still often accepted.
      reject: fc.integer({ min: 0, max: 3 }).map((x) => x === 0),
    }),
    { minLength: n, maxLength: n },
  );
  return shapes.chain((ss) => {
    const bases = ss.map((s, i) => ({
      alg: s.alg,
      signerDigest: signers(s.alg)[s.signer],
      manifestDigest: hexDigest(s.alg, `manifest ${i}`),
      selfAliases: s.aliases,
      rejectUnaccepted: s.reject,
    }));
    const manifests = bases.map((b) => b.manifestDigest);
    return fc.array(fc.array(ruleArb(manifests), { maxLength: 4 }), {
      minLength: n,
      maxLength: n,
    }).map((rules) => {
      const images = bases.map((b, i) => ({ ...b, accepts: rules[i] }));
      return { incoming: images[n - 1], loaded: images.slice(0, n - 1) };
    });
  });
});

const all = (p: Pod) => [...p.loaded, p.incoming];
const idOf = (i: PolicyImage) => `${i.alg}/${i.signerDigest}/${i.manifestDigest}`;

Deno.test("property: the result does not depend on the order of loaded", () => {
  fc.assert(
    fc.property(
      podArb.chain((pod) =>
        fc.tuple(
          fc.constant(pod),
          fc.shuffledSubarray(pod.loaded, {
            minLength: pod.loaded.length,
            maxLength: pod.loaded.length,
          }),
        )
      ),
      ([pod, shuffled]) => {
        assertEquals(
          evaluatePolicy(pod.incoming, shuffled),
          evaluatePolicy(pod.incoming, pod.loaded),
        );
      },
    ),
    RUNS,
  );
});

Deno.test("property: with no rejecting image everything is accepted", () => {
  fc.assert(
    fc.property(podArb, (pod) => {
      const clear = (i: PolicyImage) => ({ ...i, rejectUnaccepted: false });
      assertEquals(evaluatePolicy(clear(pod.incoming), pod.loaded.map(clear)), { accepted: true });
    }),
    RUNS,
  );
});

Deno.test("property: adding an accepts rule never turns accept into reject", () => {
  fc.assert(
    fc.property(
      podArb.chain((pod) =>
        fc.tuple(
          fc.constant(pod),
          fc.nat({ max: pod.loaded.length }),
          ruleArb(all(pod).map((i) => i.manifestDigest)),
        )
      ),
      ([pod, at, rule]) => {
        const before = evaluatePolicy(pod.incoming, pod.loaded);
        const images = all(pod).map((im, i) =>
          i === at ? { ...im, accepts: [...im.accepts, rule] } : im
        );
        const after = evaluatePolicy(images[images.length - 1], images.slice(0, -1));
        if (before.accepted) assertOk(after.accepted, `${rule} broke: ${after.reason}`);
      },
    ),
    RUNS,
  );
});

Deno.test("property: clearing a rejectUnaccepted flag never turns accept into reject", () => {
  fc.assert(
    fc.property(
      podArb.chain((pod) => fc.tuple(fc.constant(pod), fc.nat({ max: pod.loaded.length }))),
      ([pod, at]) => {
        const before = evaluatePolicy(pod.incoming, pod.loaded);
        const images = all(pod).map((im, i) => i === at ? { ...im, rejectUnaccepted: false } : im);
        const after = evaluatePolicy(images[images.length - 1], images.slice(0, -1));
        if (before.accepted) assertOk(after.accepted, after.reason);
      },
    ),
    RUNS,
  );
});

Deno.test("property: accepted iff every rejecting image reaches every image (reference model)", () => {
  // An independent model: transitive closure by Floyd–Warshall over ruleMatches.
  fc.assert(
    fc.property(podArb, (pod) => {
      const v = all(pod);
      const reach = v.map((x, i) =>
        v.map((y, j) => i === j || x.accepts.some((r) => ruleMatches(r, y)))
      );
      for (let k = 0; k < v.length; k++) {
        for (let i = 0; i < v.length; i++) {
          for (let j = 0; j < v.length; j++) reach[i][j] ||= reach[i][k] && reach[k][j];
        }
      }
      const expected = v.every((x, i) => !x.rejectUnaccepted || reach[i].every(Boolean));
      const got = evaluatePolicy(pod.incoming, pod.loaded);
      assertEquals(got.accepted, expected);
      if (!got.accepted) {
        // The reason names a real failing pair.
        const pairs = v.flatMap((x, i) =>
          x.rejectUnaccepted ? v.filter((_, j) => !reach[i][j]).map((y) => [x, y]) : []
        );
        assertOk(
          pairs.some(([x, y]) =>
            got.reason!.includes(
              `image ${idOf(x)} (rejectUnaccepted) does not accept image ${idOf(y)}`,
            )
          ),
          got.reason,
        );
      }
    }),
    RUNS,
  );
});

Deno.test("property: exact-id rules match their image and no image of another alg", () => {
  fc.assert(
    fc.property(podArb, (pod) => {
      for (const x of all(pod)) {
        assertOk(ruleMatches(idOf(x), x));
        for (const y of all(pod)) {
          if (y.alg !== x.alg) {
            assertOk(!ruleMatches(idOf(x), y));
            assertOk(!ruleMatches(`${x.alg}/${x.signerDigest}/*`, y));
          }
        }
      }
    }),
    RUNS,
  );
});

Deno.test("property: arbitrary rule text is either valid or an InvalidArgument format error", () => {
  const pieces = fc.constantFrom(
    "sha256",
    "sha384",
    "sha512",
    "md5",
    "/",
    ":",
    "*",
    "App",
    "1",
    "-1",
    "a".repeat(64),
    "b".repeat(96),
    "",
  );
  const textArb = fc.oneof(
    fc.string(),
    fc.array(pieces, { maxLength: 7 }).map((p) => p.join("")),
  );
  fc.assert(
    fc.property(textArb, (rule) => {
      try {
        validateRules([rule]);
      } catch (e) {
        assertOk(e instanceof AcondError, String(e));
        assertEquals(e.code, "invalid_argument");
        assertOk(e.message.startsWith(MSG.policyFormat + ": "), e.message);
      }
    }),
    { numRuns: 1000 },
  );
});
