/**
 * api/deferred.ts through the real Connect routes (buildRoutes, JSON over fetch Requests): eager
 * RPCs never load the deferred sets; the first deferred call loads them once; unknown RPCs are
 * Unimplemented; a failed load is an internal error that is retried; a set that implements an
 * eager RPC again is refused; server-streaming RPCs are forwarded.
 */
import { assertEquals, assertMatch } from "../../helpers/assert.ts";
import { deferHandlers } from "../../../src/api/deferred.ts";
import { buildRoutes, type Handlers } from "../../../src/api/router.ts";

const BASE = "http://x/acon.grpc.AconService/";

async function unary(routes: ReturnType<typeof buildRoutes>, method: string) {
  const res = await routes.get(`/acon.grpc.AconService/${method}`)!(
    new Request(BASE + method, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }),
  );
  return { status: res.status, body: await res.json() };
}

function setup(load: () => Promise<Handlers[]>) {
  const eager: Handlers = { health: () => ({ version: "eager" }) };
  return buildRoutes(deferHandlers([eager], load), 1 << 20);
}

Deno.test("eager RPCs do not load; the first deferred call loads once; unknown → Unimplemented", async () => {
  let loads = 0;
  const routes = setup(() => {
    loads++;
    return Promise.resolve([{ getManifest: () => ({ manifest: "m" }) }]);
  });
  assertEquals(await unary(routes, "Health"), { status: 200, body: { version: "eager" } });
  assertEquals(loads, 0);
  assertEquals(await unary(routes, "GetManifest"), { status: 200, body: { manifest: "m" } });
  assertEquals(await unary(routes, "GetManifest"), { status: 200, body: { manifest: "m" } });
  const r = await unary(routes, "Reboot");
  assertEquals(r.status, 501);
  assertEquals(r.body.code, "unimplemented");
  assertEquals(loads, 1);
});

Deno.test("a failed load is an internal error without details, and is retried", async () => {
  let loads = 0;
  const routes = setup(() => {
    loads++;
    if (loads === 1) return Promise.reject(new Error("secret path /x/y"));
    return Promise.resolve([{ getManifest: () => ({ manifest: "m" }) }]);
  });
  const bad = await unary(routes, "GetManifest");
  assertEquals(bad.status, 500);
  assertEquals(bad.body.code, "internal");
  assertEquals(JSON.stringify(bad.body).includes("secret"), false);
  assertEquals(await unary(routes, "GetManifest"), { status: 200, body: { manifest: "m" } });
  assertEquals(loads, 2);
});

Deno.test("a deferred set implementing an eager RPC is refused; the eager one keeps working", async () => {
  const routes = setup(() =>
    Promise.resolve([{ health: () => ({ version: "late" }), getManifest: () => ({}) }])
  );
  assertEquals((await unary(routes, "GetManifest")).body.code, "internal");
  assertEquals(await unary(routes, "Health"), { status: 200, body: { version: "eager" } });
});

Deno.test("server-streaming RPCs are forwarded to the deferred generator", async () => {
  const routes = setup(() =>
    Promise.resolve([{
      async *kernelLog() {
        yield { line: "a" };
        yield { line: "b" };
      },
    }])
  );
  const env = (json: string) => {
    const b = new TextEncoder().encode(json);
    const out = new Uint8Array(5 + b.length);
    new DataView(out.buffer).setUint32(1, b.length);
    out.set(b, 5);
    return out;
  };
  const res = await routes.get("/acon.grpc.AconService/KernelLog")!(
    new Request(BASE + "KernelLog", {
      method: "POST",
      headers: { "content-type": "application/connect+json" },
      body: env("{}"),
    }),
  );
  const bytes = new Uint8Array(await res.arrayBuffer());
  const msgs: string[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = new DataView(bytes.buffer, i + 1, 4).getUint32(0);
    msgs.push(new TextDecoder().decode(bytes.subarray(i + 5, i + 5 + n)));
    i += 5 + n;
  }
  assertEquals(msgs.slice(0, 2), ['{"line":"a"}', '{"line":"b"}']);
  assertMatch(msgs[2], /^\{\}$/); // end of stream, no error
});
