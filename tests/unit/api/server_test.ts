/**
 * api/server.ts handlerFor: the one handler every listener (unix, TCP, vsock) serves. Exact
 * routes, the longest prefix route, 404 for the rest, a throwing route answered 500.
 */
import { assertEquals } from "../../helpers/assert.ts";
import { handlerFor, type Route } from "../../../src/api/server.ts";

const answer = (text: string): Route => () => Promise.resolve(new Response(text));

const routes = new Map<string, Route>([
  ["/svc/Health", answer("health")],
  ["/svc/blobs/", answer("blobs")],
  ["/svc/blobs/special/", answer("special")],
  ["/svc/Broken", () => Promise.reject(new Error("transport trouble"))],
]);

const info = {} as Deno.ServeHandlerInfo<Deno.NetAddr>;

async function call(path: string, method = "POST"): Promise<[number, string]> {
  const r = await handlerFor(routes)(new Request(`http://acond${path}`, { method }), info);
  return [r.status, await r.text()];
}

Deno.test("handlerFor: exact paths, then the longest prefix route, else 404", async () => {
  assertEquals(await call("/svc/Health"), [200, "health"]);
  assertEquals(await call("/svc/blobs/0123", "PUT"), [200, "blobs"]);
  assertEquals(await call("/svc/blobs/special/x", "PUT"), [200, "special"]);
  // A prefix key matches only below it, not the path without its slash.
  assertEquals(await call("/svc/blobs"), [404, "no such RPC: /svc/blobs\n"]);
  assertEquals(await call("/svc/Nope"), [404, "no such RPC: /svc/Nope\n"]);
});

Deno.test("handlerFor: a route that throws is answered 500, the handler goes on", async () => {
  assertEquals(await call("/svc/Broken"), [500, "internal error\n"]);
  assertEquals(await call("/svc/Health"), [200, "health"]);
});

Deno.test("handlerFor: an unknown RPC called with native gRPC is UNIMPLEMENTED, trailers-only", async () => {
  const r = await handlerFor(new Map())(
    new Request("http://acond/acon.grpc.AconService/Nope", {
      method: "POST",
      headers: { "content-type": "application/grpc" },
      body: new Uint8Array(5),
    }),
    info,
  );
  assertEquals(r.status, 200);
  assertEquals(r.headers.get("grpc-status"), "12");
  assertEquals(
    decodeURIComponent(r.headers.get("grpc-message")!),
    "no such RPC: /acon.grpc.AconService/Nope",
  );
});
