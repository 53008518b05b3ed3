/** Assertions for tests (node:assert; @std/assert is on JSR, which our machines cannot reach). */
import assert from "node:assert/strict";

export const assertEquals: <T>(actual: unknown, expected: T, msg?: string) => asserts actual is T =
  assert.deepStrictEqual;
export const assertMatch = (actual: string, re: RegExp, msg?: string): void =>
  assert.match(actual, re, msg);
export const assertRejects = assert.rejects;
export const assertThrows = assert.throws;
export const assertOk: (v: unknown, msg?: string) => asserts v = assert.ok;
export { assert };
