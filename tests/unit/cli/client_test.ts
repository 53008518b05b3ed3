import { assertEquals } from "../../helpers/assert.ts";
import { DEFAULT_ADDR, resolveAddr } from "../../../src/cli/client.ts";

Deno.test("resolveAddr() prefers --socket, then --tcp, then ACON_ADDR, then the default", () => {
  assertEquals(resolveAddr("/s.sock", "h:1", "x:2"), "unix:/s.sock");
  assertEquals(resolveAddr(undefined, "127.0.0.1:1025"), "tcp:127.0.0.1:1025");
  assertEquals(resolveAddr(undefined, "tcp:127.0.0.1:1025"), "tcp:127.0.0.1:1025");
  assertEquals(resolveAddr(undefined, undefined, "/run/x.sock"), "unix:/run/x.sock");
  assertEquals(resolveAddr(undefined, undefined, "unix:/run/x.sock"), "unix:/run/x.sock");
  assertEquals(resolveAddr(undefined, undefined, "localhost:1025"), "tcp:localhost:1025");
  assertEquals(resolveAddr(), DEFAULT_ADDR);
});
