/**
 * A bound on the unary request bodies held in memory at once (AddBlob: up to --max-request each,
 * and decoding, hashing and extracting it holds it, and copies, until the answer; a binary one is
 * streamed and holds at most about STREAMED_BODY_BYTES, which is what it counts here). Before a body
 * is read its declared size (Content-Length; --max-request when none is given) is taken from a
 * byte budget and given back when the answer is ready. A request that does not fit is answered at
 * once, unread, with `unavailable` (retry later) and a message that names the chunked upload,
 * whose memory is bounded per upload: many concurrent large AddBlobs cannot exhaust the VM's
 * memory. docs/api.md "Limits".
 */
import type { Route } from "./server.ts";
import { AconService } from "../gen/acon_pb.ts";
import { streamable, STREAMED_BODY_BYTES } from "./addblob_stream.ts";

export class BodyBudget {
  #used = 0;
  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used;
  }

  tryTake(n: number): boolean {
    // One body alone always fits (it is bounded by --max-request anyway).
    if (this.#used > 0 && this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}

const GRPC_UNAVAILABLE = "14";

/** The refusal in the request's protocol: Connect unary JSON, or a gRPC(-web) trailers-only. */
function refusal(req: Request, message: string): Response {
  const type = req.headers.get("content-type") ?? "";
  if (type.startsWith("application/grpc")) {
    return new Response(null, {
      status: 200,
      headers: {
        "content-type": type.split(";")[0],
        "grpc-status": GRPC_UNAVAILABLE,
        "grpc-message": encodeURIComponent(message),
        connection: "close",
      },
    });
  }
  return new Response(JSON.stringify({ code: "unavailable", message }) + "\n", {
    status: 503,
    headers: { "content-type": "application/json", connection: "close" },
  });
}

/**
 * `route` with its bodies counted against `budget`; `maxBody` counts a body of unknown length, and
 * `charge` (when given) caps what one request counts (a streamed body holds less than its size).
 */
export function budgeted(
  route: Route,
  budget: BodyBudget,
  maxBody: number,
  charge?: (req: Request) => number | undefined,
): Route {
  return async (req) => {
    const declared = Number(req.headers.get("content-length") ?? NaN);
    const n = Math.min(
      Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, maxBody) : maxBody,
      charge?.(req) ?? Infinity,
    );
    if (!budget.tryTake(n)) {
      await req.body?.cancel().catch(() => {});
      return refusal(
        req,
        `Too many large requests at once (${budget.used} of ${budget.limit} body bytes in ` +
          "use): retry later, or upload the layer in chunks (BeginBlob/WriteBlob/CommitBlob)",
      );
    }
    try {
      return await route(req);
    } finally {
      budget.give(n);
    }
  };
}

/**
 * Unary AddBlob bodies held at once: at most two of --max-request (any number of small ones). A
 * binary body, streamed (./addblob_stream.ts), counts STREAMED_BODY_BYTES at most.
 */
export function budgetAddBlob(routes: Map<string, Route>, maxRequestBytes: number): void {
  const path = `/${AconService.typeName}/AddBlob`;
  const route = routes.get(path);
  if (route) {
    routes.set(
      path,
      budgeted(
        route,
        new BodyBudget(2 * maxRequestBytes),
        maxRequestBytes,
        (req) => streamable(req) ? STREAMED_BODY_BYTES : undefined,
      ),
    );
  }
}
