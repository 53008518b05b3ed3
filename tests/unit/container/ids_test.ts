import { assertEquals } from "../../helpers/assert.ts";
import { IdAllocator, idMapText, validUids } from "../../../src/container/ids.ts";

Deno.test("uid: ids start at 2 and skip the overflow uid (PID-1 base 0)", () => {
  const a = new IdAllocator(0, 5);
  assertEquals([a.next(), a.next(), a.next(), a.next()], [2, 3, 4, 6]);
  assertEquals(a.hostUid(6), 6);
});

Deno.test("uid: dev-mode base shifts host uids and skips the overflow uid there", () => {
  const a = new IdAllocator(1000, 1003);
  assertEquals([a.next(), a.next(), a.next()], [2, 4, 5]);
  assertEquals(a.hostUid(2), 1002);
});

Deno.test("uid: ids are never reused", () => {
  const a = new IdAllocator(0, 65534);
  const seen = new Set<number>();
  for (let i = 0; i < 70000; i++) {
    const n = a.next();
    assertEquals(seen.has(n), false);
    assertEquals(n === 65534, false);
    seen.add(n);
  }
});

Deno.test("uid: map text has one line per mapping", () => {
  assertEquals(
    idMapText([{ inside: 0, outside: 7 }, { inside: 1000, outside: 8 }]),
    "0 7 1\n1000 8 1\n",
  );
});

Deno.test("uid: manifest uids must be distinct, non-zero, not overflow", () => {
  assertEquals(validUids([101, 201], 65534), true);
  assertEquals(validUids([0], 65534), false);
  assertEquals(validUids([5, 5], 65534), false);
  assertEquals(validUids([65534], 65534), false);
  assertEquals(validUids([-1], 65534), false);
  assertEquals(validUids([1.5], 65534), false);
  assertEquals(validUids(Array.from({ length: 33 }, (_, i) => i + 1), 65534), false);
});
