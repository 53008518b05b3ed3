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
 * cost about half of the daemon's time per Health (docs/api.md, "Measured"). The core of it
 * (`unaryCore`) takes headers and body bytes and gives status, headers and body bytes: a route
 * wraps it in Request and Response, api/h1_unary.ts calls it straight from the socket.
 * tests/unit/api/unary_test.ts sends the same requests both ways and compares the answers.
 */
import type { DescMethodUnary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
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

/** A Connect unary POST, read whole: what the core needs of it. */
export interface UnaryCall {
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
  /** Aborts when the client is gone or the answer is out (the handler's context.signal). */
  signal: AbortSignal;
  url: string;
}

/** The whole answer to a unary call. */
export interface UnaryAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/**
 * A method's unary calls without Request or Response objects (api/h1_unary.ts serves HTTP/1.1
 * with it). `accepts(headers)`: whether a POST with these headers is the core's (else the full
 * route answers it), and the most body bytes it may carry. `answer(call)`: the answer, or null
 * when the body does not parse or disagrees with its Content-Length: no implementation ran, and
 * the full route answers the request as sent.
 */
export interface UnaryCore {
  accepts(headers: Headers): { maxBody: number } | null;
  answer(call: UnaryCall): Promise<UnaryAnswer | null>;
}

/** The core of one unary method; `impl()`: its implementation, asked per call. */
export function unaryCore(method: DescMethodUnary, impl: () => AnyFn, o: UnaryOptions): UnaryCore {
  const limits = validateReadWriteMaxBytes(o.readMaxBytes, undefined, undefined);
  const serialization = createMethodSerializationLookup(method, undefined, undefined, limits);
  const max = { maxBody: limits.readMaxBytes };
  return {
    accepts(h) {
      const type = parseContentType(h.get("content-type"));
      if (type === undefined || type.stream) return null;
      for (const n of SLOW_HEADERS) if (h.has(n)) return null;
      const cl = h.get("content-length");
      if (cl !== null && !(/^\d{1,15}$/.test(cl) && Number(cl) <= max.maxBody)) return null;
      return max;
    },
    async answer({ headers: h, body, signal, url }) {
      // accepts() said yes: the type parses.
      const binary = parseContentType(h.get("content-type"))!.binary;
      const cl = h.get("content-length");
      if (cl !== null && Number(cl) !== body.length) return null;
      let input;
      try {
        input = serialization.getI(binary).parse(body);
      } catch {
        return null;
      }
      const spec = { kind: "unary" as const, method, impl: impl() };
      const context = callContext(method, h, url, binary, signal, o.shutdownSignal);
      let status = 200;
      let out: Uint8Array;
      try {
        const output = await invokeUnaryImplementation(spec, context, input, o.interceptors);
        out = serialization.getO(binary).serialize(output);
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
      const headers = trailerMux(context.responseHeader, context.responseTrailer);
      headers.set("content-length", out.byteLength.toString(10));
      return { status, headers, body: out };
    },
  };
}

/** A route path as connect-es names them, `/<package.Service>/<Method>`: nothing to rewrite. */
export const UNARY_PATH = /^\/[A-Za-z0-9_.]+\/[A-Za-z0-9_]+$/;

/**
 * A unary call's context, as connect-es's createHandlerContext makes it for a Connect call without
 * a timeout, for less per call: one AbortController linked to the request's and the shutdown's
 * signals (connect-es makes a second, for a deadline there is none of, and links both), and the
 * request's headers as given (connect-es copies them; here each call has its own). `abort()`
 * ends the call: the signal aborts (the handler's cue) and the links go.
 */
function callContext(
  method: DescMethodUnary,
  requestHeader: Headers,
  url: string,
  binary: boolean,
  requestSignal: AbortSignal,
  shutdownSignal: AbortSignal | undefined,
): HandlerContext & { abort(reason?: unknown): void } {
  const ac = new AbortController();
  const links = shutdownSignal ? [requestSignal, shutdownSignal] : [requestSignal];
  function onAbort(this: AbortSignal) {
    ac.abort(this.reason);
  }
  for (const l of links) {
    if (l.aborted) {
      ac.abort(l.reason);
      break;
    }
    l.addEventListener("abort", onAbort);
  }
  return {
    method,
    service: method.parent,
    requestMethod: "POST",
    protocolName: "connect",
    url,
    signal: ac.signal,
    timeoutMs: () => undefined,
    requestHeader,
    responseHeader: new Headers({
      "content-type": binary ? contentTypeUnaryProto : contentTypeUnaryJson,
    }),
    responseTrailer: new Headers(),
    values: createContextValues(),
    abort(reason) {
      for (const l of links) l.removeEventListener("abort", onAbort);
      ac.abort(reason);
    },
  };
}

/** Where a route built by connectUnary keeps its core (api/server.ts hands it to the listeners). */
export const UNARY_CORE = Symbol("acond.unaryCore");

/** `route`, known to be answered as `core` answers (init/activity.ts wraps both). */
export function withCore(route: Route, core: UnaryCore): Route {
  return Object.assign(route, { [UNARY_CORE]: core });
}

/**
 * The core behind `route`, when it is a unary method's. A route wrapped without withCore (AddBlob's
 * body budget and streaming, api/bodygate.ts, api/addblob_stream.ts) has none: its calls always
 * take the route.
 */
export function coreOf(route: unknown): UnaryCore | undefined {
  return (route as { [UNARY_CORE]?: UnaryCore } | undefined)?.[UNARY_CORE];
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
  const core = unaryCore(method, impl, o);
  const route: Route = async (req) => {
    if (req.method !== "POST") return await slow(req);
    const h = req.headers;
    const ok = core.accepts(h);
    if (ok === null) return await slow(req);
    // The body, whole; a failure or an excess goes to the full route with what was read.
    let body: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    if (req.body) {
      const reader = req.body.getReader();
      const chunks: Uint8Array[] = [];
      let got;
      try {
        got = await readAtMost(reader, ok.maxBody, chunks);
      } catch (error) {
        return await slow(withBody(req, replayed(chunks, reader, { error })));
      }
      if (got.over) return await slow(withBody(req, replayed(chunks, reader)));
      body = joined(chunks, got.size);
    }
    const a = await core.answer({ headers: h, body, signal: req.signal, url: req.url });
    if (a === null) return await slow(withBody(req, body));
    return new Response(a.body as Uint8Array<ArrayBuffer>, {
      status: a.status,
      headers: a.headers,
    });
  };
  return withCore(route, core);
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
