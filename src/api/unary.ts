/**
 * Connect unary calls (JSON and binary POSTs) served without connect-es's universal handler: the
 * request's body is read into one buffer, parsed, handed to the method's implementation through
 * connect-es's own `invokeUnaryImplementation` (the router's interceptors, the output's
 * normalisation), and answered with one buffer. The steps, the error answers and the headers are
 * connect-es's Connect unary handler's (protocol-connect/handler-factory.js, 2.2.0), built from
 * the same exported functions; what that handler does besides (timeouts, compression, GET, a
 * body that does not parse, a body over the read limit, a body that fails) is left to it: the
 * request goes to the full route (`slow`) with its body as read so far, and is answered there.
 * Per call this makes no streams, async iterators or fetch wrappers: under h2load the full route
 * cost about half of the daemon's time per Health (docs/api.md, "Measured").
 * tests/unit/api/unary_test.ts sends the same requests both ways and compares the answers.
 */
import type { DescMethodUnary } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type Interceptor } from "@connectrpc/connect";
import {
  createMethodSerializationLookup,
  invokeUnaryImplementation,
  mergeNonProtocolHeaders,
  validateReadWriteMaxBytes,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import { REQUEST_ENDED } from "./conn.ts";
import { joined, readAtMost, replayed } from "./body_bytes.ts";

type Route = (req: Request) => Promise<Response>;
// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/** Request headers whose handling is connect-es's alone: such requests take the full route. */
const SLOW_HEADERS = ["connect-timeout-ms", "content-encoding", "x-acond-malformed"];

export interface UnaryOptions {
  readMaxBytes: number;
  shutdownSignal?: AbortSignal;
  interceptors: Interceptor[];
}

/**
 * The route of one unary method: Connect unary POSTs served here, everything else by `slow`
 * (the route through connect-es). `impl()`: the method's implementation, asked per call.
 */
export function connectUnary(
  method: DescMethodUnary,
  impl: () => AnyFn,
  o: UnaryOptions,
  slow: Route,
): Route {
  const limits = validateReadWriteMaxBytes(o.readMaxBytes, undefined, undefined);
  const serialization = createMethodSerializationLookup(method, undefined, undefined, limits);
  const max = limits.readMaxBytes;
  return async (req) => {
    if (req.method !== "POST") return await slow(req);
    const h = req.headers;
    const type = parseContentType(h.get("content-type"));
    if (type === undefined || type.stream) return await slow(req);
    for (const n of SLOW_HEADERS) if (h.has(n)) return await slow(req);
    const cl = h.get("content-length");
    if (cl !== null && !(/^\d{1,15}$/.test(cl) && Number(cl) <= max)) return await slow(req);
    // The body, whole; a failure or an excess goes to the full route with what was read.
    let body: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    if (req.body) {
      const reader = req.body.getReader();
      const chunks: Uint8Array[] = [];
      let got;
      try {
        got = await readAtMost(reader, max, chunks);
      } catch (error) {
        return await slow(withBody(req, replayed(chunks, reader, { error })));
      }
      if (got.over) return await slow(withBody(req, replayed(chunks, reader)));
      body = joined(chunks, got.size);
    }
    if (cl !== null && Number(cl) !== body.length) return await slow(withBody(req, body));
    let input;
    try {
      input = serialization.getI(type.binary).parse(body);
    } catch {
      return await slow(withBody(req, body));
    }
    const spec = { kind: "unary" as const, method, impl: impl() };
    const context = createHandlerContext({
      ...spec,
      service: method.parent,
      requestMethod: "POST",
      protocolName: "connect",
      timeoutMs: undefined,
      shutdownSignal: o.shutdownSignal,
      requestSignal: req.signal,
      requestHeader: h,
      url: req.url,
      responseHeader: {
        "content-type": type.binary ? contentTypeUnaryProto : contentTypeUnaryJson,
      },
      contextValues: undefined,
    });
    let status = 200;
    let out: Uint8Array;
    try {
      const output = await invokeUnaryImplementation(spec, context, input, o.interceptors);
      out = serialization.getO(type.binary).serialize(output);
    } catch (e) {
      context.abort(e);
      const error = e instanceof ConnectError
        ? e
        : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
      status = codeToHttpStatus(error.code);
      context.responseHeader.set("content-type", contentTypeUnaryJson);
      if (!error.isWireError) mergeNonProtocolHeaders(context.responseHeader, error.metadata);
      out = errorToJsonBytes(error, undefined);
    } finally {
      // The shared reason: no DOMException (with its stack) per call.
      context.abort(REQUEST_ENDED);
    }
    const header = trailerMux(context.responseHeader, context.responseTrailer);
    header.set("content-length", out.byteLength.toString(10));
    return new Response(out as Uint8Array<ArrayBuffer>, { status, headers: header });
  };
}

/** `req` again, with `body` (read whole, or what was read and then the rest). */
function withBody(
  req: Request,
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>,
): Request {
  return new Request(req.url, {
    method: req.method,
    headers: req.headers,
    body,
    signal: req.signal,
    duplex: "half",
  } as RequestInit);
}
