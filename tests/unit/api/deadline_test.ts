/** api/deadline.ts: expires once after its last start(), never while cleared, and not after stop(). */
import { assertEquals } from "../../helpers/assert.ts";
import { Deadline } from "../../../src/api/deadline.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("deadline: moved by start(), held off by clear(), ended by stop()", async () => {
  let fired = 0;
  const d = new Deadline(100, () => fired++);
  d.start();
  for (let i = 0; i < 4; i++) { // moved before it comes: 200 ms in all, no expiry
    await sleep(50);
    d.start();
  }
  assertEquals(fired, 0);
  await sleep(180);
  assertEquals(fired, 1, "once, after the last start");
  d.start();
  d.clear();
  await sleep(180);
  assertEquals(fired, 1, "cleared: no expiry");
  assertEquals(await d.during(sleep(20).then(() => "v")), "v");
  await sleep(180);
  assertEquals(fired, 1, "during() clears it when its promise settles");
  d.start();
  d.stop();
  await sleep(180);
  assertEquals(fired, 1, "stopped");
});
