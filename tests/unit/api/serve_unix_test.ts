/**
 * api/server.ts serveUnix: mode 0600 from the first moment (bound in a private directory, renamed
 * into place), a stale socket replaced, a live one or a non-socket refused and left alone.
 */
import { assertEquals, assertOk, assertRejects } from "../../helpers/assert.ts";
import { type Route, serveConfig, serveUnix } from "../../../src/api/server.ts";

const serve = serveConfig();

const routes = new Map<string, Route>([["/ping", () => Promise.resolve(new Response("pong"))]]);

async function get(path: string): Promise<string> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  try {
    const r = await fetch("http://acond/ping", { client });
    return await r.text();
  } finally {
    client.close();
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acond-serve-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const leftovers = (dir: string) =>
  [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(".acond-bind-"));

Deno.test("serves on a 0600 socket; no bind directory is left behind", () =>
  withDir(async (dir) => {
    const l = await serveUnix(`${dir}/a.sock`, routes, serve);
    try {
      assertEquals(Deno.statSync(`${dir}/a.sock`).mode! & 0o777, 0o600);
      assertEquals(await get(`${dir}/a.sock`), "pong");
      assertEquals(leftovers(dir), []);
    } finally {
      await l.shutdown();
    }
    assertOk(!leftovers(dir).length && ![...Deno.readDirSync(dir)].length, "socket removed");
  }));

Deno.test("a stale socket (nobody listening) is replaced", () =>
  withDir(async (dir) => {
    const path = `${dir}/a.sock`;
    const old = Deno.listen({ transport: "unix", path });
    old.close();
    try {
      Deno.lstatSync(path); // still there: stale
    } catch {
      // this Deno unlinks on close: make a stale socket file the way a crashed daemon leaves it
      const py = `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`;
      assertOk((await new Deno.Command("python3", { args: ["-c", py] }).output()).success);
    }
    const l = await serveUnix(path, routes, serve);
    try {
      assertEquals(await get(path), "pong");
    } finally {
      await l.shutdown();
    }
  }));

Deno.test("a live socket or a non-socket at the path is refused and left as it was", () =>
  withDir(async (dir) => {
    const live = `${dir}/live.sock`;
    const first = await serveUnix(live, routes, serve);
    try {
      await assertRejects(
        () => serveUnix(live, routes, serve),
        Error,
        "another server is listening",
      );
      assertEquals(await get(live), "pong"); // the first server still answers
    } finally {
      await first.shutdown();
    }
    const file = `${dir}/file`;
    Deno.writeTextFileSync(file, "keep");
    await assertRejects(() => serveUnix(file, routes, serve), Error, "is not a socket");
    assertEquals(Deno.readTextFileSync(file), "keep");
    assertEquals(leftovers(dir), []);
  }));
