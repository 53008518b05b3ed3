/**
 * A fetch Response that carries HTTP trailers (native gRPC's grpc-status and grpc-message).
 * Fetch Responses have none, and connect-es's createFetchHandler drops the ones its gRPC
 * handler makes; the Connect routes (api/router.ts) answer with this instead, and the HTTP/2
 * engine that can send trailers (api/h2.ts) sends them once the body has ended. Deno's own
 * engine (HTTP/1.1) sends the response without them, as before: Connect and gRPC-web carry no
 * trailers.
 */
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { universalServerRequestFromFetch } from "@connectrpc/connect/protocol";

export class TrailedResponse extends Response {
  /** Complete once the body has been read to its end. */
  readonly trailer: Headers;
  constructor(body: BodyInit | null, init: ResponseInit, trailer: Headers) {
    super(body, init);
    this.trailer = trailer;
  }
}

/** The body as createFetchHandler makes it. */
function streamOf(it: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iter = it[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await iter.next();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    async cancel(why) {
      // As connect-es does: throwing into the iterator aborts the call's context (a stream ends).
      try {
        await iter.throw?.(why);
      } catch { /* rethrown by the generator */ }
    },
  });
}

/** createFetchHandler's work, keeping the universal response's trailer (gRPC only has one). */
export function fetchHandlerKeepingTrailers(
  h: UniversalHandler,
): (req: Request) => Promise<Response> {
  return async (req) => {
    const u = await h(universalServerRequestFromFetch(req, {}));
    const body = u.body === undefined ? null : streamOf(u.body);
    const init = { status: u.status, headers: u.header };
    return u.trailer === undefined
      ? new Response(body, init)
      : new TrailedResponse(body, init, u.trailer);
  };
}
