/**
 * canonical.ts against the real `jq -jcS .` (Debian's jq 1.6): generated JSON text with unicode
 * (astral, private-use, controls, DEL, U+2028), every escape form, number literals of every shape
 * (fractions, exponents, huge, tiny, negative zero, overflow), nesting and key orders.
 */
import fc from "fast-check";
import { assertEquals, assertThrows } from "../../../helpers/assert.ts";
import {
  CanonicalError,
  canonicalize,
  goCanonical,
  isCanonical,
  jqNumber,
} from "../../../../src/cli/image/canonical.ts";

async function jq(text: string): Promise<{ ok: boolean; out: string }> {
  const p = new Deno.Command("jq", {
    args: ["-jcS", "."],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const r = await p.output();
  return { ok: r.success, out: new TextDecoder().decode(r.stdout) };
}

// --- generators of JSON text ---

/** Characters that matter: escapes, controls, DEL, non-ASCII of every UTF-8 length, astral. */
const char = fc.oneof(
  fc.constantFrom('"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\0", "\x1f", "\x7f", "\u2028"),
  fc.constantFrom("<", ">", "&", "é", "\ue000", "\uffff", "😀", "\u{10ffff}", "a", "A", "_"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);
const str = fc.array(char, { maxLength: 8 }).map((cs) => cs.join(""));

/** A string literal: each character raw (where JSON allows) or escaped one of the ways JSON has. */
const strLiteral = fc.tuple(str, fc.array(fc.nat(3), { minLength: 16, maxLength: 16 })).map(
  ([s, how]) => {
    let out = '"';
    let i = 0;
    for (const ch of s) {
      const c = ch.codePointAt(0)!;
      const mode = how[i++ % how.length];
      if (c < 0x20 || ch === '"' || ch === "\\" || mode === 0) {
        // \uXXXX (a surrogate pair for astral characters), upper or lower case hex
        const units = [...Array(ch.length).keys()].map((k) => ch.charCodeAt(k));
        out += units.map((u) => {
          const h = u.toString(16).padStart(4, "0");
          return `\\u${mode === 1 ? h.toUpperCase() : h}`;
        }).join("");
      } else out += ch;
    }
    return out + '"';
  },
);

/** A number literal of any JSON shape. */
const numLiteral = fc.oneof(
  fc.tuple(
    fc.boolean(),
    fc.oneof(fc.constant("0"), fc.bigInt({ min: 1n, max: 10n ** 30n }).map(String)),
    fc.option(fc.stringMatching(/^[0-9]{1,20}$/), { nil: undefined }),
    fc.option(fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), fc.nat(400)), {
      nil: undefined,
    }),
  ).map(([neg, int, frac, exp]) =>
    `${neg ? "-" : ""}${int}${frac !== undefined ? `.${frac}` : ""}${
      exp ? `${exp[0]}${exp[1]}${exp[2]}` : ""
    }`
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) =>
    Object.is(x, -0) ? "-0" : JSON.stringify(x)
  ),
  fc.constantFrom("0", "-0", "-0.0", "1e1000", "-1e1000", "1e-400", "1.0", "5e-324", "1e21"),
);

const ws = fc.constantFrom("", " ", "\n", "\t ");

const { json } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("null", "true", "false"),
    numLiteral,
    strLiteral,
    fc.array(tie("json"), { maxLength: 5 }).map((xs) => `[${xs.join(",")}]`),
    fc.array(fc.tuple(strLiteral, tie("json"), ws), { maxLength: 5 }).map((kvs) =>
      `{${kvs.map(([k, v, w]) => `${w}${k}${w}:${w}${v}`).join(",")}}`
    ),
  ),
}));

/** Ours, or the CanonicalError. */
function ours(input: string): string | CanonicalError {
  try {
    return canonicalize(input);
  } catch (e) {
    if (!(e instanceof CanonicalError)) throw e;
    return e;
  }
}

async function sameAsJq(input: string): Promise<void> {
  const real = await jq(input);
  const mine = ours(input);
  if (!real.ok) {
    // jq refuses what we refuse (a lone surrogate escape).
    assertEquals(mine instanceof CanonicalError, true, `jq refused ${input}, we gave ${mine}`);
    return;
  }
  assertEquals(mine, real.out, input);
  assertEquals(isCanonical(real.out), true);
}

Deno.test("property: canonicalize(text) is byte-for-byte what jq -jcS . writes", async () => {
  // Not a bare string at the top: `jq -j` prints that raw (unquoted); a manifest is an object.
  const doc = fc.tuple(json.filter((t) => !t.startsWith('"')), ws).map(([t, w]) => `${w}${t}${w}`);
  await fc.assert(
    // Ten documents per jq run (one per line of `jq -cS .`, which differs from -jcS only by the
    // newline); a batch jq refuses is checked document by document with -jcS.
    fc.asyncProperty(fc.array(doc, { minLength: 10, maxLength: 10 }), async (docs) => {
      const p = new Deno.Command("jq", {
        args: ["-cS", "."],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode(docs.join("\n")));
      await w.close();
      const r = await p.output();
      if (!r.success) {
        for (const d of docs) await sameAsJq(d);
        return;
      }
      const lines = new TextDecoder().decode(r.stdout).split("\n").slice(0, -1);
      assertEquals(lines.length, docs.length);
      // A mismatch is judged by jq -jcS on that document alone: once (seen in a full run, not
      // reproducible with its seed) jq's batch output differed from its output for the same
      // document on its own, which is what `aconctl sign` promises to match.
      for (const [i, d] of docs.entries()) {
        if (ours(d) !== lines[i]) await sameAsJq(d);
      }
    }),
    { numRuns: 80 },
  );
  // And -jcS itself, on a few.
  for (const d of fc.sample(doc, 20)) await sameAsJq(d);
});

Deno.test("property: every double prints as jq prints it", async () => {
  const xs = fc.sample(fc.double({ noNaN: true }), 2000).filter(Number.isFinite);
  xs.push(0.1, 1e15, 1e16, 1e17, 123456789012345680000, 1e-4, 1e-5, 5e-324, Number.MAX_VALUE);
  const literal = (x: number) => Object.is(x, -0) ? "-0" : JSON.stringify(x);
  const real = await jq(`[${xs.map(literal).join(",")}]`);
  assertEquals(`[${xs.map(jqNumber).join(",")}]`, real.out);
});

Deno.test("canonicalize: known forms, and what is refused", () => {
  assertEquals(
    canonicalize('{"b":1.50, "a":[1E2,-0,1e-5,1e400], "😀":"\\u007f", "\ue000":""}'),
    '{"a":[100,-0,1e-05,1.7976931348623157e+308],"b":1.5,"\ue000":"","😀":"\\u007f"}',
  );
  assertEquals(canonicalize('{"a":1,"a":2}'), '{"a":2}');
  assertThrows(() => canonicalize('"\\ud800"'), CanonicalError, "lone surrogate");
  assertThrows(() => canonicalize("{"), CanonicalError, "not valid JSON");
  assertEquals(isCanonical('{"a":1}'), true);
  assertEquals(isCanonical('{"a": 1}'), false);
  assertEquals(isCanonical("{"), false);
});

Deno.test("goCanonical: what aconcli (Go encoding/json) signed", () => {
  assertEquals(
    goCanonical('{"b":"<a&b>\\u2028\\u007f","a":[1.0,1e21,1e-7,0.000001,123456789]}'),
    '{"a":[1,1e+21,1e-7,0.000001,123456789],"b":"\\u003ca\\u0026b\\u003e\\u2028\x7f"}',
  );
});

Deno.test("object keys with backslash escapes: decoded right over many parses, and written as jq writes them", async () => {
  // An earlier aconctl refused escaped keys, blaming the runtime's JSON.parse; that was not
  // reproducible (this loop, 200,000 parses and the property test with such keys allowed all
  // agree). The loop stays as the guard: a parser that decodes keys wrongly fails it.
  const escapes = ["\\u0022", "\\u0000", "\\u005c", "\\\\", '\\"', "\\n", "\\ud83d\\ude00", "\\/"];
  let wrong = 0;
  for (let i = 0; i < 30_000; i++) {
    const k = `k${i % 7}${escapes[i % escapes.length]}`;
    const keys = Object.keys(JSON.parse(`{"${k}":${i},"x${i}":{"${k}":1}}`));
    if (keys[0] !== JSON.parse(`"${k}"`)) wrong++;
  }
  assertEquals(wrong, 0);
  for (
    const t of ['{"\\u0022":1}', '{"a":{"b\\n" : 2}}', '[{"\\\\":null}]', '{"\\u0000":"\\u0022"}']
  ) {
    await sameAsJq(t);
  }
  assertEquals(canonicalize('{"b":"\\u0022","\\u0041":1}'), '{"A":1,"b":"\\""}');
});
