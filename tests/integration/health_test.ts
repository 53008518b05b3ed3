import { assertEquals } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";

Deno.test("Health answers over curl (Connect JSON) and every connect-es transport", async () => {
  const d = await startDaemon();
  try {
    const r = await d.curl("Health", {});
    assertEquals(r.status, 200);
    const body = r.body as Record<string, unknown>;
    assertEquals(body.tee, "sim");
    assertEquals(body.apiVersion, "1.0.0");
    for (const kind of ["connect-json", "connect-binary", "grpc-web"] as const) {
      const h = await d.client(kind).health({});
      assertEquals(h.tee, "sim", kind);
      assertEquals(h.finalized, false, kind);
    }
    const st = await Deno.lstat(d.socket);
    assertEquals(st.mode! & 0o777, 0o600);
  } finally {
    await d.stop();
  }
});

Deno.test("an unknown RPC is 404 and a garbage body is a clean Connect error", async () => {
  const d = await startDaemon();
  try {
    assertEquals((await d.curl("NoSuchMethod", {})).status, 404);
    const bad = await d.curl("Health", "{not json");
    assertEquals(bad.status, 400);
    assertEquals((bad.body as { code: string }).code, "invalid_argument");
    // Still healthy afterwards.
    assertEquals((await d.curl("Health", {})).status, 200);
  } finally {
    await d.stop();
  }
});
