/** The stress world's bound on plain calls: a call that never answers fails, named, in time. */
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { bounded } from "../../scripts/stress.d/world.ts";
import type { AconClient } from "../helpers/daemon.ts";

/** A client whose unary calls answer only when their signal aborts (a daemon that hangs). */
function hanging(seen: (AbortSignal | undefined)[]): AconClient {
  const never = (_input: unknown, o: { signal?: AbortSignal } = {}) => {
    seen.push(o.signal);
    return new Promise((_ok, fail) =>
      o.signal?.addEventListener("abort", () => fail(o.signal!.reason))
    );
  };
  const watch = () => "a stream";
  return { health: never, start: never, watch } as unknown as AconClient;
}

Deno.test("stress world: a plain unary call that hangs fails with its name after the bound; a call's own signal and streams are left alone", async () => {
  const seen: (AbortSignal | undefined)[] = [];
  const c = bounded(hanging(seen), 50);
  await assertRejects(() => c.health({}), Error, "health: no answer in 50 ms (a hang)");
  assertEquals(seen[0]?.aborted, true);
  // The caller's own signal wins: no bound of ours on it.
  const own = new AbortController();
  const p = c.start({ imageId: "x" }, { signal: own.signal });
  assertEquals(seen[1], own.signal);
  own.abort(new Error("mine"));
  await assertRejects(() => p, Error, "mine");
  // A server stream is not a unary call: passed through untouched.
  assertEquals((c.watch as unknown as () => string)(), "a stream");
});
