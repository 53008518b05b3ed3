/**
 * api/h1_put.ts under generated input (fast-check, fixed seeds): any bytes as a head never throw
 * and never yield a head outside the upload route's shape; generated upload heads parse back to
 * what was sent; a body, chunked in random pieces with random extensions and read in random
 * sizes, arrives exactly; and any bytes as a chunked body end (with the body, or an Error) and
 * never read past a Content-Length.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { parsePutHead, putBody, type PutHead } from "../../../src/api/h1_put.ts";
import type { ByteConn } from "../../../src/api/byteconn.ts";

const PREFIX = "/acon.grpc.AconService/blobs/";
const ID = "0123456789abcdef0123456789abcdef";
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const idle = { ms: 60_000, onStall: () => {}, error: () => new Error("stalled") };
const RUNS = { numRuns: 300, seed: 15 };

/** A connection that gives `input` in reads of the sizes `sizes` cycles through. */
function conn(input: Uint8Array, sizes: number[]): ByteConn & { readTo: () => number } {
  let at = 0, turn = 0;
  return {
    read(p) {
      if (at >= input.length) return Promise.resolve(null);
      const n = Math.min(p.length, sizes[turn++ % sizes.length], input.length - at);
      p.set(input.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
    write: (p) => Promise.resolve(p.length),
    closeWrite: () => Promise.resolve(),
    close: () => {},
    readTo: () => at,
  };
}

Deno.test("h1 put property: any head bytes parse to null or to a head of the upload route's shape", () => {
  const line = fc.string({
    unit: fc.constantFrom("a", ":", " ", "\r", "\n", "\t", "é", "\x00", "1"),
  });
  const headText = fc.tuple(
    fc.constantFrom(
      `PUT ${PREFIX}${ID} HTTP/1.1`,
      `PUT ${PREFIX}${ID}?offset=1 HTTP/1.1`,
      `PUT ${PREFIX}../x HTTP/1.1`,
      "GET / HTTP/1.1",
      "",
    ),
    fc.array(
      fc.oneof(
        line,
        fc.constantFrom(
          "content-length: 5",
          "Content-Length: 007",
          "transfer-encoding: chunked",
          "expect: 100-continue",
          "upgrade: x",
        ),
      ),
      { maxLength: 6 },
    ),
  ).map(([first, lines]) => [first, ...lines, "", ""].join("\r\n"));
  fc.assert(
    fc.property(fc.oneof(headText, fc.string()), (text) => {
      const h = parsePutHead(latin1(text), PREFIX);
      if (h === null) return;
      assert(
        h.target.startsWith(PREFIX) &&
          /^[0-9a-f]{32}(\?[!-~]*)?$/.test(h.target.slice(PREFIX.length)),
      );
      assert(h.framing === "chunked" || (Number.isSafeInteger(h.framing) && h.framing >= 0));
      for (const [k, v] of h.headers) assert(!/[\r\n\0]/.test(k + v), `${k}: ${v}`);
    }),
    RUNS,
  );
});

Deno.test("h1 put property: generated upload heads parse back to what was sent", () => {
  const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/).filter((n) =>
    !["content-length", "transfer-encoding", "expect", "upgrade"].includes(n)
  );
  const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(token, value), { selector: ([k]) => k, maxLength: 8 }),
      fc.oneof(fc.nat({ max: 2 ** 40 }), fc.constant("chunked" as const)),
      fc.boolean(),
      (extra, framing, expect) => {
        const lines = [`PUT ${PREFIX}${ID} HTTP/1.1`, ...extra.map(([k, v]) => `${k}: ${v}`)];
        lines.push(
          framing === "chunked" ? "Transfer-Encoding: chunked" : `Content-Length: ${framing}`,
        );
        if (expect) lines.push("Expect: 100-continue");
        const h = parsePutHead(latin1([...lines, "", ""].join("\r\n")), PREFIX);
        assert(h !== null, lines.join(" | "));
        assertEquals(h.framing, framing);
        assertEquals(h.expectContinue, expect);
        for (const [k, v] of extra) assertEquals(h.headers.get(k), v);
      },
    ),
    RUNS,
  );
});

const chunked: PutHead = {
  target: "/",
  headers: new Headers(),
  framing: "chunked",
  expectContinue: false,
};

Deno.test("h1 put property: a chunked body in random chunks and reads arrives exactly", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      async (body, cuts, reads, ext) => {
        let wire = "";
        for (let at = 0, i = 0; at < body.length; i++) {
          const n = Math.min(cuts[i % cuts.length], body.length - at);
          wire += n.toString(16) + (ext && i % 2 ? ";x=y" : "") + "\r\n";
          wire += String.fromCharCode(...body.subarray(at, at + n)) + "\r\n";
          at += n;
        }
        wire += "0\r\n" + (ext ? "t: 1\r\n" : "") + "\r\n";
        const c = conn(latin1(wire), reads);
        const got = new Uint8Array(
          await new Response(putBody(c, new Uint8Array(0), chunked, idle)).arrayBuffer(),
        );
        assertEquals(got, body);
      },
    ),
    RUNS,
  );
});

Deno.test("h1 put property: any bytes as a body end, and never read past a Content-Length", async () => {
  const noise = fc.array(
    fc.oneof(
      fc.constantFrom("0\r\n", "\r\n", "5\r\n", "ffffffffffffff\r\n", "1;a\r\nx\r\n", "\n", "\r"),
      fc.string({ maxLength: 20 }),
    ),
    { maxLength: 30 },
  ).map((parts) => latin1(parts.join("")));
  await fc.assert(
    fc.asyncProperty(
      noise,
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }),
      fc.nat({ max: 200 }),
      async (input, reads, length) => {
        // Chunked: the body ends or errors with an Error; it never hangs (the input ends).
        const outcome = await new Response(
          putBody(conn(input, reads), new Uint8Array(0), chunked, idle),
        )
          .arrayBuffer().then(() => "end", (e) => e);
        assert(outcome === "end" || outcome instanceof Error, String(outcome));
        // Content-Length: exactly `length` bytes or an error, and nothing read past them.
        const c = conn(input, reads);
        const head: PutHead = {
          target: "/",
          headers: new Headers(),
          framing: length,
          expectContinue: false,
        };
        const r = await new Response(putBody(c, new Uint8Array(0), head, idle)).arrayBuffer().then(
          (b) => b.byteLength,
          () => -1,
        );
        if (input.length >= length) assertEquals(r, length);
        else assertEquals(r, -1, "a body shorter than its length is an error");
        assert(c.readTo() <= Math.max(length, 0), `read ${c.readTo()} of a ${length}-byte body`);
      },
    ),
    RUNS,
  );
});
