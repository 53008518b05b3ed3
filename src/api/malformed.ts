/**
 * A binary request message that does not parse is the client's error: invalid_argument, on every
 * protocol (Connect unary and streaming, gRPC-web, gRPC). connect-es answers its own binary parse
 * failure with `internal` (JSON parse failures are already invalid_argument), so the route checks
 * the message first: it reads the body (bounded as Connect bounds it), parses each uncompressed
 * message with the method's schema, and on a failure hands Connect an empty message and a mark
 * that the router's interceptor turns into the invalid_argument answer, in the protocol's form.
 * Compressed messages are left to Connect (it decompresses; none of our clients compress).
 */
import { fromBinary } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { joined, readAtMost, replayed } from "./body_bytes.ts";

/** The mark between the route and the interceptor (a client's own copy is dropped). */
const MARK = "x-acond-malformed";

const UNARY = /^application\/proto(\s*;|$)/i;
const ENVELOPED = /^application\/(connect\+proto|grpc-web(\+proto)?|grpc(\+proto)?)(\s*;|$)/i;

function compressed(h: Headers): boolean {
  for (const n of ["content-encoding", "connect-content-encoding", "grpc-encoding"]) {
    const v = h.get(n);
    if (v !== null && v.trim().toLowerCase() !== "identity") return true;
  }
  return false;
}

/**
 * The body, if it is at most `max` bytes; else a stream of what was read and the rest (left to
 * Connect, which refuses it with resource_exhausted).
 */
async function readUpTo(
  req: Request,
  max: number,
): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>> {
  if (!req.body) return new Uint8Array(0);
  const cl = req.headers.get("content-length");
  if (cl !== null && Number(cl) > max) return req.body;
  const reader = req.body.getReader();
  const got = await readAtMost(reader, max);
  return got.over ? replayed(got.chunks, reader) : joined(got.chunks, got.size);
}

/** Why the messages in `body` do not parse as `desc`, or null when they do (or are compressed). */
export function malformed(desc: DescMessage, body: Uint8Array, enveloped: boolean): string | null {
  const parse = (b: Uint8Array) => {
    try {
      fromBinary(desc, b);
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };
  if (!enveloped) return parse(body);
  let at = 0;
  while (at + 5 <= body.length) {
    const flags = body[at];
    const len = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    if (at + 5 + len > body.length) return null; // short: Connect reports the framing
    // 0x01 compressed, 0x02 Connect's end of stream, 0x80 gRPC-web's trailers: not messages here.
    if ((flags & 0x83) === 0) {
      const why = parse(body.subarray(at + 5, at + 5 + len));
      if (why !== null) return why;
    }
    at += 5 + len;
  }
  return null;
}

/**
 * The route of one method with the check in front. `readMaxBytes`: a larger body is not read
 * here (Connect refuses it with resource_exhausted).
 */
export function checkMessages(
  desc: DescMessage,
  readMaxBytes: number,
  route: (req: Request) => Promise<Response>,
): (req: Request) => Promise<Response> {
  return async (req) => {
    const type = req.headers.get("content-type") ?? "";
    const enveloped = ENVELOPED.test(type);
    const headers = new Headers(req.headers);
    headers.delete(MARK);
    if (req.method !== "POST" || !(enveloped || UNARY.test(type)) || compressed(req.headers)) {
      return await route(req.headers.has(MARK) ? new Request(req, { headers }) : req);
    }
    const body = await readUpTo(req, readMaxBytes + 5 * 16);
    if (body instanceof ReadableStream) {
      return await route(
        new Request(req.url, {
          method: "POST",
          headers,
          body,
          signal: req.signal,
          duplex: "half",
        } as RequestInit),
      );
    }
    const why = malformed(desc, body, enveloped);
    let out: Uint8Array<ArrayBuffer> = body;
    if (why !== null) {
      headers.set(MARK, encodeURIComponent(why.slice(0, 200)));
      out = enveloped ? new Uint8Array(5) : new Uint8Array(0); // an empty message, well framed
    }
    headers.delete("content-length");
    return await route(
      new Request(req.url, { method: "POST", headers, body: out, signal: req.signal }),
    );
  };
}

/** The router's interceptor: a request the check marked is refused before any handler runs. */
export const refuseMalformed: Interceptor = (next) => (req) => {
  const why = req.header.get(MARK);
  if (why !== null) {
    throw new ConnectError(
      `Malformed request: ${
        decodeURIComponent(why)
      } (expected a binary ${req.method.input.typeName})`,
      Code.InvalidArgument,
    );
  }
  return next(req);
};
