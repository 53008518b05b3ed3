import { assertEquals } from "../../helpers/assert.ts";
import { progressText } from "../../../src/cli/progress.ts";

const MIB = 1024 * 1024;

Deno.test("progress line: bar, percent, bytes, rate of this run, ETA", () => {
  assertEquals(
    progressText({ name: "L", size: 100 * MIB, done: 25 * MIB, startedAt: 0, elapsedMs: 2500 }, 8),
    "L [##------]  25%  25.0 MiB/100.0 MiB  10.0 MiB/s  ETA 00:08",
  );
  // A resumed upload: the rate counts only what this run sent (10 MiB in 1 s).
  assertEquals(
    progressText({
      name: "L",
      size: 100 * MIB,
      done: 60 * MIB,
      startedAt: 50 * MIB,
      elapsedMs: 1000,
    }, 10),
    "L [######----]  60%  60.0 MiB/100.0 MiB  10.0 MiB/s  ETA 00:04",
  );
  // Nothing sent yet: no rate, no ETA; done: ETA zero; long uploads show hours.
  assertEquals(
    progressText({ name: "L", size: 2048, done: 0, startedAt: 0, elapsedMs: 0 }, 4),
    "L [----]   0%  0.0 KiB/2.0 KiB  0.0 KiB/s  ETA --:--",
  );
  assertEquals(
    progressText({ name: "L", size: 2048, done: 2048, startedAt: 0, elapsedMs: 1000 }, 4),
    "L [####] 100%  2.0 KiB/2.0 KiB  2.0 KiB/s  ETA 00:00",
  );
  assertEquals(
    progressText(
      { name: "L", size: 3700 * MIB, done: 100 * MIB, startedAt: 0, elapsedMs: 100_000 },
      2,
    ),
    "L [--]   2%  100.0 MiB/3700.0 MiB  1.0 MiB/s  ETA 1:00:00",
  );
});
