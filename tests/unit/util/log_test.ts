import { assertEquals } from "../../helpers/assert.ts";
import { holdStderr, log, recentLogLines, setLogLevel } from "../../../src/util/log.ts";

Deno.test("log: the recent lines are kept, at most 500, oldest first; held stderr still keeps them", () => {
  setLogLevel("info");
  const errors: unknown[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => errors.push(a[0]);
  try {
    for (let i = 0; i < 520; i++) log.info(`line ${i}`);
    log.debug("not at info");
    const r = recentLogLines();
    assertEquals(r.length, 500);
    assertEquals(r[0], "acond[info] line 20");
    assertEquals(r.at(-1), "acond[info] line 519");
    assertEquals(errors.length, 520);
    holdStderr(true);
    log.warn("held");
    holdStderr(false);
    assertEquals(errors.length, 520, "not written to stderr while held");
    assertEquals(recentLogLines().at(-1), "acond[warn] held");
    log.info("again");
    assertEquals(errors.at(-1), "acond[info] again");
  } finally {
    console.error = orig;
  }
});
