import { assertEquals } from "../../helpers/assert.ts";
import { LogRing, TailBuffer } from "../../../src/container/ring.ts";
import fc from "fast-check";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("tail buffer keeps the last cap bytes", () => {
  const t = new TailBuffer(5);
  t.push(enc("abc"));
  t.push(enc("defg"));
  assertEquals(dec(t.bytes()), "cdefg");
  t.push(enc("0123456789"));
  assertEquals(dec(t.bytes()), "56789");
  assertEquals(t.size, 5); // the other 12 bytes are gone
});

Deno.test("tail buffer equals the tail of the concatenation (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 40 })),
      fc.integer({ min: 0, max: 64 }),
      (chunks, cap) => {
        const t = new TailBuffer(cap);
        const all: number[] = [];
        for (const c of chunks) {
          t.push(c);
          all.push(...c);
        }
        assertEquals([...t.bytes()], all.slice(Math.max(0, all.length - cap)));
      },
    ),
  );
});

Deno.test("log ring drops the oldest chunks beyond its cap and wakes followers", async () => {
  const r = new LogRing(10);
  const woke = r.changed();
  r.push(1, enc("hello"));
  await woke;
  r.push(2, enc("world"));
  r.push(1, enc("!"));
  const held = r.since(0);
  assertEquals(held.map((c) => [c.fd, dec(c.data), c.seq]), [[2, "world", 1], [1, "!", 2]]);
  assertEquals(r.since(2).length, 1);
  const closed = r.changed();
  r.close();
  await closed;
  assertEquals(r.closed, true);
});
