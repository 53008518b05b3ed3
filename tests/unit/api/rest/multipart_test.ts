/**
 * The REST API's strict multipart parser (src/api/rest/multipart.ts): bodies as Go's
 * mime/multipart writer makes them (aconcli's) parse back to their parts, whatever the bytes
 * (a property test); every malformation is an error naming it, never a dropped part.
 */
import fc from "fast-check";
import { assertEquals } from "../../../helpers/assert.ts";
import { goMultipart, type GoPart } from "../../../helpers/rest.ts";
import {
  boundaryOf,
  MAX_HEADER_BLOCK,
  MAX_PARTS,
  MultipartError,
  parseMultipart,
} from "../../../../src/api/rest/multipart.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** The MultipartError `fn` throws (fails if it throws nothing, or something else). */
function refusal(fn: () => unknown, what = ""): MultipartError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MultipartError) return e;
    throw e;
  }
  throw new Error(`expected a MultipartError ${what}`);
}

function parse(parts: GoPart[]) {
  const m = goMultipart(parts);
  return parseMultipart(m.body, boundaryOf(m.contentType));
}

Deno.test("aconcli's AddManifest and Exec bodies parse to their parts", () => {
  const got = parse([
    { name: "manifest", filename: "acon.json", value: '{"a":1}' },
    { name: "sig", filename: "signature", value: new Uint8Array([0, 13, 10, 45, 45, 255]) },
    { name: "cmd", value: "Sh\n-c\necho hi" },
    { name: "env", value: "" },
  ]);
  assertEquals(got.map((p) => [p.name, p.filename]), [
    ["manifest", "acon.json"],
    ["sig", "signature"],
    ["cmd", undefined],
    ["env", undefined],
  ]);
  assertEquals(dec(got[0].data), '{"a":1}');
  assertEquals(got[1].data, new Uint8Array([0, 13, 10, 45, 45, 255]));
  assertEquals(dec(got[2].data), "Sh\n-c\necho hi");
  assertEquals(got[3].data.length, 0);
});

Deno.test("multipart: quoted names with escapes, a quoted boundary, no parts at all", () => {
  assertEquals(parse([{ name: 'a"b\\c', value: "x" }])[0].name, 'a"b\\c');
  assertEquals(boundaryOf('multipart/form-data; charset=utf-8; boundary="a b:c"'), "a b:c");
  assertEquals(parseMultipart(enc("--XX--\r\n"), "XX"), []);
});

Deno.test("multipart: any parts round-trip through Go's framing (property)", () => {
  const part = fc.record({
    name: fc.string({ minLength: 0, maxLength: 12 }).filter((s) => !/[\r\n]/.test(s)),
    filename: fc.option(fc.stringMatching(/^[a-z.]{1,8}$/), { nil: undefined }),
    value: fc.uint8Array({ maxLength: 200 }),
  });
  fc.assert(
    fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
      const got = parse(parts);
      assertEquals(got.length, parts.length);
      got.forEach((p, i) => {
        assertEquals([p.name, p.filename, p.data], [
          parts[i].name,
          parts[i].filename,
          parts[i].value,
        ]);
      });
    }),
  );
});

Deno.test("multipart: a bad Content-Type is refused with what to send", () => {
  const cases: [string | null, RegExp][] = [
    [null, /no Content-Type/],
    ["application/json", /Content-Type is application\/json/],
    ["multipart/form-data", /without a boundary/],
    ["multipart/form-data; boundary=", /bad multipart boundary/],
    [`multipart/form-data; boundary=${"x".repeat(71)}`, /bad multipart boundary/],
    ["multipart/form-data; boundary=a{b", /bad multipart boundary/],
  ];
  for (const [type, re] of cases) {
    const e = refusal(() => boundaryOf(type), String(type));
    if (!re.test(e.message)) throw new Error(`${type}: ${e.message}`);
  }
});

Deno.test("multipart: every malformation is an error naming it, never a dropped part", () => {
  const ok = goMultipart([{ name: "a", value: "hello" }]);
  const b = boundaryOf(ok.contentType);
  const cases: [string, string | Uint8Array, RegExp][] = [
    ["cut in the data", ok.body.slice(0, ok.body.length - 12), /part 0: body cut short/],
    ["cut after a delimiter", enc(`--${b}`), /cut short: no closing boundary/],
    [
      "cut in the headers",
      enc(`--${b}\r\nContent-Disposition: form-data`),
      /in the part's headers/,
    ],
    ["preamble", enc(`junk\r\n--${b}--\r\n`), /does not start with the multipart boundary/],
    ["empty", enc(""), /does not start with/],
    ["bad delimiter line", enc(`--${b}xx\r\n`), /bad multipart delimiter line/],
    [
      "no disposition",
      enc(`--${b}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${b}--\r\n`),
      /no Content-Disposition/,
    ],
    [
      "no name",
      enc(`--${b}\r\nContent-Disposition: form-data; filename="f"\r\n\r\nx\r\n--${b}--\r\n`),
      /has no name/,
    ],
    [
      "not form-data",
      enc(`--${b}\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--${b}--\r\n`),
      /is not form-data/,
    ],
    [
      "two dispositions",
      enc(
        `--${b}\r\nContent-Disposition: form-data; name="a"\r\n` +
          `Content-Disposition: form-data; name="b"\r\n\r\nx\r\n--${b}--\r\n`,
      ),
      /two Content-Disposition/,
    ],
    [
      "bad header line",
      enc(`--${b}\r\nnot a header\r\n\r\nx\r\n--${b}--\r\n`),
      /bad header line/,
    ],
    [
      "header block too long",
      enc(`--${b}\r\nX-Pad: ${"p".repeat(MAX_HEADER_BLOCK)}\r\n\r\nx\r\n--${b}--\r\n`),
      /headers longer than/,
    ],
    [
      "too many header lines",
      enc(`--${b}\r\n${"X-A: 1\r\n".repeat(20)}\r\nx\r\n--${b}--\r\n`),
      /more than 16 header lines/,
    ],
  ];
  for (const [what, body, re] of cases) {
    const data = typeof body === "string" ? enc(body) : body;
    const e = refusal(() => parseMultipart(data, b), what);
    if (!re.test(e.message)) throw new Error(`${what}: ${e.message}`);
  }
  const many = goMultipart(
    Array.from({ length: MAX_PARTS + 1 }, (_, i) => ({ name: `p${i}`, value: "" })),
  );
  const e = refusal(() => parseMultipart(many.body, boundaryOf(many.contentType)));
  assertEquals(e.message, `more than ${MAX_PARTS} parts`);
});
