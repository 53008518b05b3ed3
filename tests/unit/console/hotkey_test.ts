import { assertEquals, assertOk } from "../../helpers/assert.ts";
import { CTRL_O, ESC, HotkeyDetector } from "../../../src/console/hotkey.ts";

const b = (...xs: (number | string)[]) =>
  Uint8Array.from(
    xs.flatMap((x) => typeof x === "string" ? [...new TextEncoder().encode(x)] : [x]),
  );
const arr = (u: Uint8Array) => [...u];

Deno.test("hotkey: ESC ^O x detaches; the pair and the x are stripped, what follows is rest", () => {
  const h = new HotkeyDetector();
  const r = h.feed(b("ab", ESC, CTRL_O, "xls\r"));
  assertEquals(arr(r.data), arr(b("ab")));
  assertOk(r.detach);
  assertEquals(arr(r.rest), arr(b("ls\r")));
  assertOk(!h.holding && !h.armed);
});

Deno.test("hotkey: an upper-case X detaches too", () => {
  assertOk(new HotkeyDetector().feed(b(ESC, CTRL_O, "X")).detach);
});

Deno.test("hotkey: any other byte after the pair cancels and is passed on; the pair is stripped", () => {
  const h = new HotkeyDetector();
  const r = h.feed(b(ESC, CTRL_O, "y"));
  assertOk(!r.detach);
  assertEquals(arr(r.data), arr(b("y")));
  // After the cancel, x is ordinary input.
  assertEquals(arr(h.feed(b("x")).data), arr(b("x")));
});

Deno.test("hotkey: split over reads at every position", () => {
  const all = b("q", ESC, CTRL_O, "x", "z");
  for (let cut = 0; cut <= all.length; cut++) {
    const h = new HotkeyDetector();
    const r1 = h.feed(all.subarray(0, cut));
    if (r1.detach) {
      assertEquals(arr(r1.data), arr(b("q")));
      continue;
    }
    const r2 = h.feed(all.subarray(cut));
    assertOk(r2.detach, `cut at ${cut}`);
    assertEquals([...r1.data, ...r2.data], arr(b("q")), `cut at ${cut}`);
    assertEquals(arr(r2.rest), arr(b("z")));
  }
});

Deno.test("hotkey: escape sequences that are not the pair pass through unchanged", () => {
  const h = new HotkeyDetector();
  const arrows = b(ESC, "[A", ESC, "OB", ESC, ESC, "[C");
  assertEquals(arr(h.feed(arrows).data), arr(arrows));
  assertOk(!h.holding);
});

Deno.test("hotkey: a trailing ESC is held until the next byte or flush()", () => {
  const h = new HotkeyDetector();
  assertEquals(arr(h.feed(b("a", ESC)).data), arr(b("a")));
  assertOk(h.holding);
  assertEquals(arr(h.flush()), [ESC]);
  assertOk(!h.holding);
  assertEquals(arr(h.flush()), []);
  // Held, then a non-^O byte: both pass on.
  h.feed(b(ESC));
  assertEquals(arr(h.feed(b(":")).data), arr(b(ESC, ":")));
});

Deno.test("hotkey: the pair twice then x detaches (the second ESC cancels the first pair)", () => {
  const h = new HotkeyDetector();
  const r = h.feed(b(ESC, CTRL_O, ESC, CTRL_O, "x"));
  assertOk(r.detach);
  assertEquals(arr(r.data), []);
});

Deno.test("hotkey: armed across reads; reset() forgets", () => {
  const h = new HotkeyDetector();
  h.feed(b(ESC, CTRL_O));
  assertOk(h.armed);
  h.reset();
  const r = h.feed(b("x"));
  assertOk(!r.detach);
  assertEquals(arr(r.data), arr(b("x")));
});

Deno.test("hotkey: a lone ^O is ordinary input", () => {
  assertEquals(arr(new HotkeyDetector().feed(b(CTRL_O, "x")).data), arr(b(CTRL_O, "x")));
});
