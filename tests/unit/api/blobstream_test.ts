/** Parsing where a raw blob stream starts (src/api/blobstream.ts). */
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { parseStreamRequest } from "../../../src/api/blobstream.ts";
import { streamContentRange } from "../../../src/api/wire.ts";

const parse = (h: Record<string, string>, q = "") =>
  parseStreamRequest(new Headers(h), new URLSearchParams(q));

Deno.test("blob stream request: Content-Range, ?offset, Content-Length", () => {
  assertEquals(parse({}), { offset: 0, declared: {} });
  assertEquals(parse({ "content-length": "10" }), { offset: 0, declared: { length: 10 } });
  assertEquals(parse({ "content-range": "bytes 5-*/100" }), {
    offset: 5,
    declared: { total: 100 },
  });
  assertEquals(parse({ "content-range": "bytes 5-14/*", "content-length": "10" }), {
    offset: 5,
    declared: { length: 10 },
  });
  // What the client sends (api/wire.ts) is what the server reads.
  assertEquals(parse({ "content-range": streamContentRange(5, 100) }), {
    offset: 5,
    declared: { total: 100 },
  });
  assertEquals(parse({}, "offset=7"), { offset: 7, declared: {} });
  assertEquals(parse({ "content-range": "bytes 7-*/9" }, "offset=7"), {
    offset: 7,
    declared: { total: 9 },
  });
});

Deno.test("blob stream request: malformed or contradictory positions are invalid_argument", () => {
  const bad = (h: Record<string, string>, q: string, re: RegExp) =>
    assertThrows(() => parse(h, q), (e: Error & { code?: string }) => {
      assertEquals(e.code, "invalid_argument");
      return re.test(e.message);
    });
  bad({ "content-range": "bytes=5-" }, "", /Bad Content-Range "bytes=5-"/);
  bad({ "content-range": "bytes 9-5/20" }, "", /end before start/);
  bad(
    { "content-range": "bytes 0-9/20", "content-length": "5" },
    "",
    /disagrees with Content-Length 5/,
  );
  bad({}, "offset=-1", /Bad offset: -1/);
  bad({}, "offset=1e3", /Bad offset: 1e3/);
  bad({}, "offset=99999999999999999", /Bad offset/);
  bad(
    { "content-range": "bytes 1-*/5" },
    "offset=2",
    /offset=2 disagrees with Content-Range start 1/,
  );
  bad({ "content-length": "x" }, "", /Bad Content-Length: x/);
});
