/** The hub's bounded byte queue (src/console/bytering.ts): the newest `cap` bytes, drops counted. */
import { assertEquals } from "../../helpers/assert.ts";
import { ByteRing } from "../../../src/console/bytering.ts";
import fc from "fast-check";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("byte ring: keeps the newest cap bytes and says how many went", () => {
  const r = new ByteRing(5, 2);
  assertEquals(r.push(enc("abc")), 0);
  assertEquals(r.push(enc("de")), 0);
  assertEquals(r.push(enc("fg")), 2);
  assertEquals(dec(r.bytes()), "cdefg");
  assertEquals(r.push(enc("0123456789")), 10);
  assertEquals(dec(r.bytes()), "56789");
  assertEquals([r.size, r.room], [5, 0]);
  assertEquals(dec(r.take(2)), "56");
  assertEquals(dec(r.front()), "789");
  r.consume(1);
  assertEquals(dec(r.take()), "89");
  assertEquals(r.size, 0);
});

Deno.test("byte ring: any pushes and takes equal a plain queue of the last cap bytes (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.array(
        fc.oneof(
          fc.record({ push: fc.uint8Array({ maxLength: 100 }) }),
          fc.record({ take: fc.integer({ min: 0, max: 80 }) }),
        ),
        { maxLength: 60 },
      ),
      (cap, ops) => {
        const r = new ByteRing(cap, 1);
        let model: number[] = [];
        for (const op of ops) {
          if ("push" in op) {
            model.push(...op.push);
            const over = Math.max(0, model.length - cap);
            model = model.slice(over);
            assertEquals(r.push(op.push), over);
          } else {
            assertEquals([...r.take(op.take)], model.slice(0, op.take));
            model = model.slice(op.take);
          }
          assertEquals([...r.bytes()], model);
          assertEquals(r.size, model.length);
        }
      },
    ),
  );
});
