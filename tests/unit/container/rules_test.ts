import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  isPublicEntrypoint,
  isSignalAllowed,
  killTarget,
  restartSignal,
} from "../../../src/container/rules.ts";
import { overlayOptions } from "../../../src/container/overlay.ts";

Deno.test("exec names: uppercase first, no '/', not . or ..", () => {
  for (const ok of ["Echo", "A", "Ünïcode", "X.sh", "Big-1"]) {
    assertEquals(isPublicEntrypoint(ok), true, ok);
  }
  for (
    const bad of ["", "lower", ".", "..", "../x", "A/../../bin/sh", "A/b", "1abc", "_X", "A\0"]
  ) {
    assertEquals(isPublicEntrypoint(bad), false, JSON.stringify(bad));
  }
});

Deno.test("signals: listed exactly, sign included", () => {
  const list = [-15, 9, 0];
  assertEquals(isSignalAllowed(list, -15), true);
  assertEquals(isSignalAllowed(list, 15), false);
  assertEquals(isSignalAllowed(list, -9), false);
  assertEquals(isSignalAllowed(list, 9), true);
  assertEquals(isSignalAllowed(list, 0), true);
  assertEquals(isSignalAllowed([], 9), false);
  assertEquals(isSignalAllowed([100], 100), false);
  assertEquals(killTarget(42, -15), { pid: -42, sig: 15 });
  assertEquals(killTarget(42, 9), { pid: 42, sig: 9 });
});

Deno.test("restart signal: signals[0]; 0 or empty sends nothing", () => {
  assertEquals(restartSignal([-15, 9]), -15);
  assertEquals(restartSignal([0, 9]), null);
  assertEquals(restartSignal([]), null);
  assertEquals(restartSignal([10]), 10);
});

Deno.test("overlay: top first, then layers last-to-first; upper/work only when writable", () => {
  assertEquals(
    overlayOptions({ top: "/t", layers: ["/l/0", "/l/1", "/l/2"] }),
    "lowerdir=/t:/l/2:/l/1:/l/0",
  );
  assertEquals(
    overlayOptions({ top: "/t", layers: ["/l/0"], upper: "/u", work: "/w" }),
    "lowerdir=/t:/l/0,upperdir=/u,workdir=/w",
  );
  assertThrows(() => overlayOptions({ top: "/t", layers: ["/a,upperdir=/etc"] }));
  assertThrows(() => overlayOptions({ top: "/t", layers: ["/a:b"] }));
  assertThrows(() => overlayOptions({ top: "/t", layers: [], upper: "/u" }));
  assertThrows(() => overlayOptions({ top: "/t", layers: Array(500).fill("/x/".repeat(5)) }));
});
