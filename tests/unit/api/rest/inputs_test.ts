/**
 * The REST API's inputs (src/api/rest/inputs.ts, blob.ts): ACON's integer fields (actix's 400 for
 * a missing or bad one, defaults), the bounded body read, multipart and form helpers, blob names.
 */
import { assertEquals, assertRejects } from "../../../helpers/assert.ts";
import { goMultipart } from "../../../helpers/rest.ts";
import {
  concatParts,
  intField,
  lastPart,
  partLines,
  readBody,
  readForm,
  readMultipart,
  RestInputError,
} from "../../../../src/api/rest/inputs.ts";
import { digestOfName } from "../../../../src/api/rest/blob.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function status(fn: () => unknown): [number, string] {
  try {
    fn();
  } catch (e) {
    if (e instanceof RestInputError) return [e.status, e.message];
    throw e;
  }
  throw new Error("expected a RestInputError");
}

Deno.test("intField: defaults, bounds per kind, required fields", () => {
  const q = new URLSearchParams("a=30&b=-1&c=4294967295&d=4294967296&e=x&f=18446744073709551615");
  assertEquals(intField(q, "a", "u64"), 30n);
  assertEquals(intField(q, "none", "u64", 30n), 30n);
  assertEquals(intField(q, "b", "i32"), -1n);
  assertEquals(intField(q, "c", "u32"), 0xffffffffn);
  assertEquals(intField(q, "f", "u64"), 0xffffffffffffffffn);
  assertEquals(status(() => intField(q, "d", "u32")), [
    400,
    "Bad field d=4294967296: expected a u32 integer",
  ]);
  assertEquals(status(() => intField(q, "b", "u64"))[0], 400);
  assertEquals(status(() => intField(q, "e", "i32"))[0], 400);
  assertEquals(status(() => intField(q, "none", "u32")), [
    400,
    "Missing field none (a u32 integer)",
  ]);
});

Deno.test("readBody: refuses a body over the bound, declared or streamed", async () => {
  const small = new Request("http://x/", { method: "POST", body: enc("12345") });
  assertEquals(await readBody(small, 5), enc("12345"));
  const declared = new Request("http://x/", {
    method: "POST",
    body: enc("123456"),
    headers: { "content-length": "6" },
  });
  await assertRejects(() => readBody(declared, 5), /larger than 5 bytes/);
  const streamed = new Request("http://x/", {
    method: "POST",
    body: new ReadableStream({
      start(c) {
        c.enqueue(enc("123"));
        c.enqueue(enc("456"));
        c.close();
      },
    }),
    duplex: "half",
  } as RequestInit);
  await assertRejects(() => readBody(streamed, 5), /larger than 5 bytes/);
});

Deno.test("multipart helpers: last part wins, stdin concatenates, lines drop empties", async () => {
  const m = goMultipart([
    { name: "manifest", filename: "a", value: "first" },
    { name: "manifest", filename: "b", value: "second" },
    { name: "stdin", filename: "s", value: "ab" },
    { name: "stdin", filename: "t", value: "cd" },
    { name: "env", value: "A=1\n\nB=2\n" },
    { name: "env", value: "C=3" },
    { name: "env", value: new Uint8Array([0xff, 0x41]) }, // not UTF-8: counts as empty (ACON)
  ]);
  const req = new Request("http://x/", {
    method: "POST",
    body: m.body,
    headers: { "content-type": m.contentType },
  });
  const parts = await readMultipart(req, 1 << 20);
  assertEquals(new TextDecoder().decode(lastPart(parts, "manifest")), "second");
  assertEquals(lastPart(parts, "cert").length, 0);
  assertEquals(new TextDecoder().decode(concatParts(parts, "stdin")), "abcd");
  assertEquals(partLines(parts, "env"), ["A=1", "B=2", "C=3"]);
});

Deno.test("readForm: aconcli's kill form without a Content-Type; another type is refused", async () => {
  const bare = new Request("http://x/", { method: "POST", body: enc("signal_num=15") });
  assertEquals((await readForm(bare)).get("signal_num"), "15");
  const json = new Request("http://x/", {
    method: "POST",
    body: "{}",
    headers: { "content-type": "application/json" },
  });
  await assertRejects(() => readForm(json), /send an application\/x-www-form-urlencoded form/);
});

Deno.test("blob names: a digest in hex, with or without .tar", () => {
  assertEquals(digestOfName(`${"A".repeat(96)}.tar`), `sha384/${"a".repeat(96)}`);
  assertEquals(digestOfName("b".repeat(64)), `sha256/${"b".repeat(64)}`);
  assertEquals(digestOfName(`${"c".repeat(128)}.tar`), `sha512/${"c".repeat(128)}`);
  for (
    const bad of ["layer.tar", `${"g".repeat(96)}.tar`, "a".repeat(95), `${"a".repeat(96)}.gz`]
  ) {
    let threw = false;
    try {
      digestOfName(bad);
    } catch {
      threw = true;
    }
    assertEquals(threw, true, bad);
  }
});
