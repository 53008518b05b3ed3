import { assertEquals } from "../../helpers/assert.ts";
import { DescriptorBudget } from "../../../src/api/fd_budget.ts";

const openNow = () => [...Deno.readDirSync("/proc/self/fd")].length;

Deno.test("descriptor budget: the reserve is a quarter of the limit, 16..256; the listener cap a third of the rest", () => {
  assertEquals(new DescriptorBudget(() => 128).reserve, 32);
  assertEquals(new DescriptorBudget(() => 40).reserve, 16);
  assertEquals(new DescriptorBudget(() => 65536).reserve, 256);
  assertEquals(new DescriptorBudget(() => null).reserve, 0);
  assertEquals(new DescriptorBudget(() => 128).capFor(256), 32);
  assertEquals(new DescriptorBudget(() => 4096).capFor(256), 256);
  assertEquals(new DescriptorBudget(() => 20).capFor(256), 4);
});

Deno.test("descriptor budget: descriptors already being released count as free", () => {
  // A limit whose room above the reserve is exactly what is open now: one more does not fit,
  // unless some of the open ones are on their way out.
  const n = openNow();
  let limit = n;
  while (limit - new DescriptorBudget(() => limit).reserve < n) limit++;
  const b = new DescriptorBudget(() => limit);
  if (limit - b.reserve !== n) throw new Error(`no limit leaves exactly ${n} (${limit})`);
  assertEquals(b.roomForOne(), false);
  assertEquals(b.roomForOne(1), true);
  assertEquals(new DescriptorBudget(() => null).roomForOne(), true);
});
