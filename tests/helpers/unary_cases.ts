/**
 * Connect unary requests and handlers that the fast paths are checked with: api/unary.ts against
 * connect-es (tests/unit/api/unary_test.ts), api/h1_unary.ts against Deno's engine
 * (tests/unit/api/h1_unary_test.ts). Cases: JSON and binary, handler errors (Connect codes,
 * metadata, a plain throw), response headers and trailers set by the handler, bodies that do not
 * parse or are too large, and requests the fast path leaves to connect-es (GET, a stream
 * content-type, a timeout, compression, the malformed mark smuggled by a client, an unknown type).
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import { type Handlers, mergeHandlers } from "../../src/api/router.ts";
import { InspectRequestSchema } from "../../src/gen/acon_pb.ts";

export const BASE = "http://x/acon.grpc.AconService/";
export const MAX = 4096;

/** What the handlers saw, per build. */
export type Seen = string[];

export function handlers(seen: Seen): Handlers {
  return mergeHandlers([{
    health: (_req: unknown, ctx: HandlerContext) => {
      seen.push(`health ${ctx.requestHeader.get("x-probe") ?? "-"} ${ctx.protocolName}`);
      // The rest of the context, as the handler sees it; and its signal, which ends with the call.
      seen.push(
        `context ${ctx.service.typeName}.${ctx.method.name} ${ctx.requestMethod} ` +
          `${new URL(ctx.url).pathname} ${ctx.timeoutMs() === undefined ? "no" : "a"} deadline ` +
          `${ctx.signal.aborted} ` +
          `${ctx.responseHeader.get("content-type")} ${[...ctx.responseTrailer].length}`,
      );
      ctx.signal.addEventListener("abort", () => seen.push("health ended"), { once: true });
      ctx.responseHeader.set("x-answer", "yes");
      ctx.responseTrailer.set("x-trailer", "t");
      return { version: "1.2.3" };
    },
    inspect: (req: { containerId: number }) => {
      seen.push(`inspect ${req.containerId}`);
      if (req.containerId === 7) {
        throw new ConnectError("no container 7", Code.NotFound, { "x-why": "gone" });
      }
      if (req.containerId === 8) throw new Error("a bug");
      return { info: [] };
    },
    getManifest: () => {
      throw new ConnectError("wire", Code.PermissionDenied);
    },
  }]);
}

export interface Case {
  name: string;
  method: string;
  init: RequestInit & { url?: string };
}

const json = (method: string, body: string, headers: Record<string, string> = {}): Case => ({
  name: `${method} json ${body.slice(0, 30)} ${JSON.stringify(headers)}`,
  method,
  init: { method: "POST", headers: { "content-type": "application/json", ...headers }, body },
});

const bin = (method: string, body: Uint8Array, headers: Record<string, string> = {}): Case => ({
  name: `${method} binary ${body.length} B ${JSON.stringify(headers)}`,
  method,
  init: {
    method: "POST",
    headers: { "content-type": "application/proto", ...headers },
    body: body as Uint8Array<ArrayBuffer>,
  },
});

const inspect = (id: number) =>
  toBinary(InspectRequestSchema, create(InspectRequestSchema, { containerId: id }));

export const CASES: Case[] = [
  json("Health", "{}"),
  json("Health", "{}", { "x-probe": "p1" }),
  json("Health", "", {}),
  json("Health", "{}", { "content-type": "application/json; charset=utf-8" }),
  bin("Health", new Uint8Array(0)),
  json("Inspect", '{"containerId": 3}'),
  json("Inspect", '{"containerId": 7}'),
  json("Inspect", '{"containerId": 8}'),
  json("Inspect", '{"containerId": "x"}'),
  json("Inspect", '{"noSuchField": 1}'),
  json("Inspect", "{not json"),
  json("Inspect", `{"containerId": 1, "pad": "${"a".repeat(MAX)}"}`),
  bin("Inspect", inspect(3)),
  bin("Inspect", inspect(7)),
  bin("Inspect", new Uint8Array([0x08])), // truncated varint: malformed
  bin("Inspect", new Uint8Array([0xff, 0xff, 0xff])),
  bin("Inspect", new Uint8Array(MAX + 10)),
  json("GetManifest", "{}"),
  json("Reboot", "{}"), // no implementation: unimplemented
  // Left to connect-es.
  json("Health", "{}", { "connect-timeout-ms": "5000" }),
  json("Health", "{}", { "connect-timeout-ms": "bogus" }),
  json("Health", "{}", { "content-encoding": "gzip" }),
  json("Health", "{}", { "content-encoding": "identity" }),
  json("Health", "{}", { "x-acond-malformed": "smuggled" }),
  json("Inspect", '{"containerId": 3}', { "x-acond-malformed": "smuggled" }),
  json("Health", "{}", { "content-type": "application/connect+json" }),
  json("Health", "{}", { "content-type": "text/plain" }),
  json("Health", "{}", { "connect-protocol-version": "1" }),
  json("Health", "{}", { "accept-encoding": "gzip" }),
  {
    name: "GET Health",
    method: "Health",
    init: { method: "GET", url: `${BASE}Health?encoding=json&message=%7B%7D` },
  },
  { name: "PUT Health", method: "Health", init: { method: "PUT", body: "{}" } },
];
