/**
 * api/h1_put.ts: which heads the daemon reads itself (anything else goes to Deno's engine), the
 * body framings over a scripted connection, and the one answer. (The real daemon: the blob stream
 * tests in tests/integration.)
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  answerAndClose,
  headEnd,
  mayBePut,
  parsePutHead,
  putBody,
  type PutHead,
} from "../../../src/api/h1_put.ts";
import type { ByteConn } from "../../../src/api/byteconn.ts";
import { DIRECT_READ, type DirectRead } from "../../../src/image/upload/body.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PREFIX = "/acon.grpc.AconService/blobs/";
const ID = "0123456789abcdef0123456789abcdef";

const headOf = (lines: string[]) => enc.encode(lines.join("\r\n") + "\r\n\r\n");

Deno.test("h1 put: mayBePut and headEnd", () => {
  assert(mayBePut(enc.encode("PUT /")));
  assert(mayBePut(enc.encode("PU")), "too few bytes to tell: maybe");
  assert(!mayBePut(enc.encode("POST /")));
  assert(!mayBePut(new Uint8Array(0)));
  assertEquals(headEnd(enc.encode("PUT / HTTP/1.1\r\nhost: x\r\n\r\nbody")), 27);
  assertEquals(headEnd(enc.encode("PUT / HTTP/1.1\r\nhost: x\r\n")), -1);
  assertEquals(headEnd(enc.encode("PUT / HTTP/1.1\nhost: x\n\nbody")), 24, "bare LF ends it too");
});

Deno.test("h1 put: plain upload heads are read here, with their framing", () => {
  const h = parsePutHead(
    headOf([
      `PUT ${PREFIX}${ID}?offset=5 HTTP/1.1`,
      "Host: localhost",
      "Content-Length: 12",
      "Content-Range:  bytes 5-16/17 ",
      "Expect: 100-continue",
    ]),
    PREFIX,
  );
  assertEquals(h?.target, `${PREFIX}${ID}?offset=5`);
  assertEquals(h?.framing, 12);
  assertEquals(h?.expectContinue, true);
  assertEquals(h?.headers.get("content-range"), "bytes 5-16/17");
  const c = parsePutHead(
    headOf([`PUT ${PREFIX}${ID} HTTP/1.1`, "Transfer-Encoding: chunked"]),
    PREFIX,
  );
  assertEquals(c?.framing, "chunked");
  assertEquals(c?.expectContinue, false);
  assertEquals(
    parsePutHead(headOf([`PUT ${PREFIX}${ID} HTTP/1.1`, "host: x"]), PREFIX)?.framing,
    0,
  );
});

Deno.test("h1 put: anything odd is left to Deno's engine (null)", () => {
  const base = `PUT ${PREFIX}${ID} HTTP/1.1`;
  const refused: [string, string[]][] = [
    ["another method", [`POST ${PREFIX}${ID} HTTP/1.1`]],
    ["HTTP/1.0", [`PUT ${PREFIX}${ID} HTTP/1.0`]],
    ["another path", ["PUT /acon.grpc.AconService/AddBlob HTTP/1.1"]],
    ["dot segments", [`PUT ${PREFIX}../Health HTTP/1.1`]],
    ["an escape in the id", [`PUT ${PREFIX}%30123456789abcdef0123456789abcdef HTTP/1.1`]],
    ["a longer id", [`PUT ${PREFIX}${ID}/x HTTP/1.1`]],
    ["two lengths", [base, "content-length: 1", "content-length: 1"]],
    ["length and chunked", [base, "content-length: 1", "transfer-encoding: chunked"]],
    ["another coding", [base, "transfer-encoding: gzip, chunked"]],
    ["a signed length", [base, "content-length: +5"]],
    ["a huge length", [base, "content-length: 99999999999999999"]],
    ["another expectation", [base, "expect: 200-ok"]],
    ["an upgrade", [base, "upgrade: h2c"]],
    ["a folded line", [base, "x-a: 1", " folded"]],
    ["a space before the colon", [base, "x-a : 1"]],
    ["a control byte", [base, "x-a: \x01"]],
    ["no colon", [base, "junk"]],
  ];
  for (const [why, lines] of refused) {
    assertEquals(parsePutHead(headOf(lines), PREFIX), null, why);
  }
  assertEquals(parsePutHead(enc.encode(`${base}\nhost: x\n\n`), PREFIX), null, "bare LF");
});

/** A connection whose reads give `input` in `pieces`, recording what is written. */
function scripted(input: Uint8Array, piece = 7) {
  let at = 0;
  const written: string[] = [];
  let closed = false;
  const conn: ByteConn = {
    read(p) {
      if (at >= input.length) return Promise.resolve(null);
      const n = Math.min(p.length, piece, input.length - at);
      p.set(input.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
    write(p) {
      written.push(dec.decode(p));
      return Promise.resolve(p.length);
    },
    closeWrite: () => Promise.resolve(),
    close: () => void (closed = true),
  };
  return {
    conn,
    written,
    get closed() {
      return closed;
    },
    get readTo() {
      return at;
    },
  };
}

const idle = { ms: 60_000, onStall: () => {}, error: () => new Error("stalled") };

async function drain(body: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(body).text();
}

Deno.test("h1 put: a Content-Length body: what came with the head first, then exactly the rest", async () => {
  const s = scripted(enc.encode("lo, world!NEXT REQUEST"));
  const head: PutHead = {
    target: "/",
    headers: new Headers(),
    framing: 13,
    expectContinue: true,
  };
  const body = putBody(s.conn, enc.encode("hel"), head, idle);
  assertEquals(await drain(body), "hello, world!");
  assertEquals(s.readTo, 10, "nothing read past the body");
  assertEquals(s.written, ["HTTP/1.1 100 Continue\r\n\r\n"], "100 Continue once, before reading");
});

Deno.test("h1 put: no 100 Continue when the head's bytes already hold the body", async () => {
  const s = scripted(new Uint8Array(0));
  const head: PutHead = { target: "/", headers: new Headers(), framing: 3, expectContinue: true };
  assertEquals(await drain(putBody(s.conn, enc.encode("abc"), head, idle)), "abc");
  assertEquals(s.written, []);
});

Deno.test("h1 put: chunked bodies, and the framings refused", async () => {
  const chunked: PutHead = {
    target: "/",
    headers: new Headers(),
    framing: "chunked",
    expectContinue: false,
  };
  const ok = scripted(enc.encode("5;a=b\r\nhello\r\n1\r\n!\r\n0\r\nx-t: 1\r\n\r\n"));
  assertEquals(await drain(putBody(ok.conn, new Uint8Array(0), chunked, idle)), "hello!");
  const bad: [string, string][] = [
    ["zz\r\nhello\r\n", "bad chunk size"],
    ["5\r\nhelloXX0\r\n\r\n", "no CRLF after a chunk"],
    ["5\nhello\r\n", "a bare LF"],
    ["5\r\nhel", "closed before the end"],
    [`0\r\n${"x: 1\r\n".repeat(40)}\r\n`, "too many trailers"],
    [`${"0".repeat(5000)}1\r\n`, "a line too long"],
    [`1;${"x".repeat(4100)}`, "a line too long"],
  ];
  for (const [input, why] of bad) {
    const s = scripted(enc.encode(input), 4096);
    const e = await drain(putBody(s.conn, new Uint8Array(0), chunked, idle)).then(
      () => null,
      (e) => e as Error,
    );
    assert(e && e.message.includes(why), `${JSON.stringify(input)}: ${e?.message} (want ${why})`);
  }
});

Deno.test("h1 put: a sender that goes quiet is stalled after the idle bound", async () => {
  let stalled = 0;
  let release!: () => void;
  const conn: ByteConn = {
    read: () =>
      new Promise((_, reject) => {
        release = () => reject(new Error("closed"));
      }),
    write: (p) => Promise.resolve(p.length),
    closeWrite: () => Promise.resolve(),
    close: () => release?.(),
  };
  const head: PutHead = { target: "/", headers: new Headers(), framing: 10, expectContinue: false };
  const body = putBody(conn, new Uint8Array(0), head, {
    ms: 30,
    onStall: () => {
      stalled++;
      conn.close(); // what the daemon does: the connection is cut
    },
    error: () => new Error("stalled"),
  });
  const e = await drain(body).then(() => null, (e) => e as Error);
  assert(e !== null, "the body errors");
  assert(stalled >= 1, "onStall ran");
});

Deno.test("h1 put: the answer is one HTTP/1.1 response with its length, and the connection closes", async () => {
  const s = scripted(new Uint8Array(0));
  await answerAndClose(
    s.conn,
    new Response('{"received":3}', {
      status: 409,
      headers: { "content-type": "application/json", connection: "keep-alive" },
    }),
  );
  const text = s.written.join("");
  assert(text.startsWith("HTTP/1.1 409 Conflict\r\n"), text);
  assert(text.includes("content-type: application/json\r\n"), text);
  assert(text.includes("content-length: 14\r\nconnection: close\r\n\r\n"), text);
  assert(!text.includes("keep-alive"), text);
  assert(text.endsWith('\r\n\r\n{"received":3}'), text);
  assert(s.closed);
});

Deno.test("h1 put: the body reads directly into the caller's memory too (DIRECT_READ)", async () => {
  const s = scripted(enc.encode("5;a=b\r\nhello\r\n3\r\n, w\r\n0\r\n\r\nNEXT"));
  const head: PutHead = {
    target: "/",
    headers: new Headers(),
    framing: "chunked",
    expectContinue: false,
  };
  const body = putBody(s.conn, new Uint8Array(0), head, idle);
  const read = (body as unknown as Record<symbol, DirectRead>)[DIRECT_READ];
  const dst = new Uint8Array(new SharedArrayBuffer(64));
  let got = "";
  for (let n = await read(dst); n !== null; n = await read(dst)) {
    got += dec.decode(dst.slice(0, n));
  }
  assertEquals(got, "hello, w");
  assertEquals(await read(dst), null, "the end stays the end");
});
