/**
 * cli/raw_put.ts against scripted servers on a real Unix socket: what is sent, the answer's
 * framings, an early refusal, and connections that break. (The real daemon: the blob stream and
 * push tests in tests/integration.)
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { putRaw, type PutRequest, PutTransportError } from "../../../src/cli/raw_put.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A one-connection server at a fresh socket; `serve` scripts it. */
async function withServer(
  serve: (c: Deno.UnixConn) => Promise<void>,
  run: (dial: () => Promise<Deno.Conn>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s`;
  const l = Deno.listen({ transport: "unix", path });
  const served = (async () => {
    const c = await l.accept();
    try {
      await serve(c);
    } finally {
      try {
        c.close();
      } catch { /* closed */ }
    }
  })();
  try {
    await run(() => Deno.connect({ transport: "unix", path }));
  } finally {
    await served;
    l.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads the request head (to its blank line) and returns it with what came after it. */
async function readHead(c: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  let got = new Uint8Array(0);
  const buf = new Uint8Array(64 << 10);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) throw new Error("no head");
    const next = new Uint8Array(got.length + n);
    next.set(got);
    next.set(buf.subarray(0, n), got.length);
    got = next;
    const end = dec.decode(got).indexOf("\r\n\r\n");
    if (end >= 0) return { head: dec.decode(got.subarray(0, end)), rest: got.subarray(end + 4) };
  }
}

async function readN(c: Deno.Conn, rest: Uint8Array, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  out.set(rest.subarray(0, n));
  let at = Math.min(n, rest.length);
  while (at < n) {
    const r = await c.read(out.subarray(at));
    if (r === null) break;
    at += r;
  }
  return out.subarray(0, at);
}

/** The error `fn` fails with (a PutTransportError, or the test fails). */
async function failure(fn: () => Promise<unknown>): Promise<PutTransportError> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof PutTransportError, `not a PutTransportError: ${e}`);
    return e;
  }
  throw new Error("it did not fail");
}

async function writeAll(c: Deno.Conn, s: string) {
  const b = enc.encode(s);
  for (let at = 0; at < b.length;) at += await c.write(b.subarray(at));
}

/** A body source over `data` (what `next` is asked for is recorded). */
function source(data: Uint8Array) {
  let at = 0;
  return {
    size: data.length,
    get at() {
      return at;
    },
    next(buf: Uint8Array) {
      const n = Math.min(buf.length, data.length - at);
      buf.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

/** A PUT to `target` of `length` bytes (all of the source's, by default) read from `src`. */
function request(
  target: string,
  src: ReturnType<typeof source>,
  length = src.size,
  headers: Record<string, string> = {},
): PutRequest {
  return { target, host: "localhost", headers, length, next: (b) => src.next(b) };
}

Deno.test("raw put: sends the head and the whole body, and reads a Content-Length answer", async () => {
  const body = new Uint8Array(3 << 20).map((_, i) => i % 251);
  const src = source(body);
  await withServer(async (c) => {
    const { head, rest } = await readHead(c);
    const lines = head.split("\r\n");
    assertEquals(lines[0], "PUT /up/1 HTTP/1.1");
    assert(lines.includes("host: localhost"), head);
    assert(lines.includes("content-range: bytes 0-3145727/3145728"), head);
    assert(lines.includes(`content-length: ${body.length}`), head);
    const got = await readN(c, rest, body.length);
    assert(got.length === body.length && got.every((v, i) => v === body[i]), "the body intact");
    await writeAll(c, 'HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{"received":"3"}');
  }, async (dial) => {
    const res = await putRaw(
      await dial(),
      request("/up/1", src, body.length, { "content-range": "bytes 0-3145727/3145728" }),
    );
    assertEquals(res.status, 200);
    assertEquals(dec.decode(res.body), '{"received":"3"}');
  });
});

Deno.test("raw put: a chunked answer after a 100 Continue", async () => {
  const body = enc.encode("hello");
  await withServer(async (c) => {
    const { rest } = await readHead(c);
    await readN(c, rest, body.length);
    await writeAll(
      c,
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n" +
        '4\r\n{"co\r\n9;x=y\r\nde":"no"}\r\n0\r\n\r\n',
    );
  }, async (dial) => {
    const res = await putRaw(await dial(), request("/up/2", source(body)));
    assertEquals(res.status, 409);
    assertEquals(dec.decode(res.body), '{"code":"no"}');
  });
});

Deno.test("raw put: a refusal before the body is read ends the sending (no hang, the rest unsent)", async () => {
  const big = new Uint8Array(256 << 20); // far more than the socket buffers hold
  const src = source(big);
  await withServer(async (c) => {
    await readHead(c);
    await writeAll(c, "HTTP/1.1 400 Bad Request\r\ncontent-length: 7\r\n\r\nrefused");
    // The server never reads the body; it closes when the client does.
    await c.read(new Uint8Array(1)).catch(() => null);
  }, async (dial) => {
    const res = await putRaw(await dial(), request("/up/3", src));
    assertEquals(res.status, 400);
    assertEquals(dec.decode(res.body), "refused");
    assert(src.at < big.length / 4, `sent ${src.at} of ${big.length}`);
  });
});

Deno.test("raw put: a connection closed before an answer, or not HTTP, is a transport error", async () => {
  for (
    const [script, why] of [
      ["", /closed before an answer/],
      ["SSH-2.0-x\r\n\r\n", /not an HTTP answer/],
      ["HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", /closed mid-answer/],
      ["HTTP/1.1 200 OK\r\ncontent-length: 99999999\r\n\r\n", /bad answer length/],
    ] as const
  ) {
    await withServer(async (c) => {
      await readHead(c);
      if (script) await writeAll(c, script);
    }, async (dial) => {
      const e = await failure(async () =>
        await putRaw(await dial(), request("/up/4", source(new Uint8Array(0))))
      );
      assert(why.test(e.message), `${e.message} !~ ${why}`);
    });
  }
});

Deno.test("raw put: a body source that ends early fails the request", async () => {
  const short = source(new Uint8Array(10));
  await withServer(async (c) => {
    await readHead(c);
    await c.read(new Uint8Array(64)).catch(() => null);
  }, async (dial) => {
    const e = await failure(async () => await putRaw(await dial(), request("/up/5", short, 100)));
    assert(/ended 90 bytes short|closed/.test(e.message), e.message);
  });
});
