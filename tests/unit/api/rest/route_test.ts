/**
 * The REST route (src/api/rest/mod.ts) over a recording handler set: what each endpoint hands
 * the RPC (ACON's defaults: exec timeout 30 and capture 0x20000, restart timeout 30, inspect id
 * 0 for all; cmd lines split into command and arguments), and ACON's HTTP status per error code.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals } from "../../../helpers/assert.ts";
import { goMultipart } from "../../../helpers/rest.ts";
import { restRoute } from "../../../../src/api/rest/mod.ts";
import type { Handlers } from "../../../../src/api/router.ts";
import type { Uploads } from "../../../../src/image/upload/table.ts";

type Seen = { name: string; req: Record<string, unknown> };

function route(fail?: Code) {
  const seen: Seen[] = [];
  const record = (name: string, answer: unknown) => (req: Record<string, unknown>) => {
    seen.push({ name, req });
    if (fail !== undefined) throw new ConnectError(`failed ${name}`, fail);
    return answer;
  };
  const handlers = {
    exec: record("exec", { stdout: new Uint8Array([104, 105]), stderr: new Uint8Array() }),
    restart: record("restart", {}),
    inspect: record("inspect", { info: [] }),
    kill: record("kill", {}),
    start: record("start", { containerId: 7 }),
  } as unknown as Handlers;
  const uploads = () => Promise.reject(new Error("no uploads here")) as Promise<Uploads>;
  return { seen, r: restRoute({ handlers, uploads, maxBody: 1 << 20 }) };
}

const at = (path: string, init: RequestInit = {}) =>
  new Request(`http://x/api/v1/${path}`, { method: "POST", ...init });

Deno.test("REST route: ACON's defaults and the request each RPC gets", async () => {
  const { seen, r } = route();
  const m = goMultipart([{ name: "cmd", value: "Sh\n-c\n\necho hi" }, {
    name: "env",
    value: "A=1",
  }]);
  const x = await r(at("container/5/exec", {
    body: m.body,
    headers: { "content-type": m.contentType },
  }));
  assertEquals([x.status, await x.text()], [200, '{"stdout":[104,105],"stderr":[]}']);
  const e = seen.pop()!.req;
  assertEquals(
    [e.containerId, e.command, e.arguments, e.envs, e.timeout, e.captureSize, e.stdin],
    [5, "Sh", ["-c", "echo hi"], ["A=1"], 30n, 0x20000n, new Uint8Array()],
  );
  assertEquals((await r(at("container/5/restart"))).status, 200);
  assertEquals([seen.pop()!.req.timeout, seen.length], [30n, 0]);
  await r(at("container/5/restart?timeout=0"));
  assertEquals(seen.pop()!.req.timeout, 0n);
  for (const path of ["container/inspect", "container/0/inspect", "container/9/inspect"]) {
    const a = await r(at(path, { method: "GET" }));
    assertEquals([a.status, await a.text()], [200, '{"info":[]}']);
  }
  assertEquals(seen.splice(0).map((s) => s.req.containerId), [0, 0, 9]);
  const s = goMultipart([{ name: "env", value: "A=1\n\nB=2" }]);
  const st = await r(at("container/start?image_id=sha384%2Fa%2Fb", {
    body: s.body,
    headers: { "content-type": s.contentType },
  }));
  assertEquals([st.status, await st.text()], [200, '{"container_id":7}']);
  assertEquals([seen[0].req.imageId, seen[0].req.envs], ["sha384/a/b", ["A=1", "B=2"]]);
  seen.length = 0;
  // aconcli: the form as bytes, no Content-Type.
  await r(at("container/3/kill", { body: new TextEncoder().encode("signal_num=-15") }));
  assertEquals([seen[0].req.containerId, seen[0].req.signalNum], [3, -15]);
});

Deno.test("REST route: ACON's HTTP status per error code, the message as plain text", async () => {
  const cases: [Code, number][] = [
    [Code.InvalidArgument, 400],
    [Code.PermissionDenied, 401],
    [Code.DeadlineExceeded, 408],
    [Code.Unavailable, 503],
    [Code.FailedPrecondition, 500],
    [Code.NotFound, 500],
    [Code.ResourceExhausted, 500],
    [Code.Internal, 500],
  ];
  for (const [code, status] of cases) {
    const { r } = route(code);
    const a = await r(at("container/1/restart"));
    assertEquals(
      [a.status, a.headers.get("content-type"), await a.text()],
      [status, "text/plain", "failed restart"],
      Code[code],
    );
  }
});
