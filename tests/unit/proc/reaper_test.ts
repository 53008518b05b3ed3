import { assertEquals } from "../../helpers/assert.ts";
import { decodeWaitStatus } from "../../../src/proc/reaper.ts";

Deno.test("wait status: exit code or signal, never both", () => {
  assertEquals(decodeWaitStatus(0), { code: 0, signal: null });
  assertEquals(decodeWaitStatus(7 << 8), { code: 7, signal: null });
  assertEquals(decodeWaitStatus(255 << 8), { code: 255, signal: null });
  assertEquals(decodeWaitStatus(9), { code: null, signal: 9 });
  assertEquals(decodeWaitStatus(11 | 0x80), { code: null, signal: 11 }); // core dumped
});
