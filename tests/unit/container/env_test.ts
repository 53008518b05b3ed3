import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { ENV_MSG, sanitizeEnv } from "../../../src/container/env.ts";
import { AcondError } from "../../../src/errors.ts";

const sorted = (a: string[]) => [...a].sort();
function rejects(rules: string[], req: string[], msg: string) {
  assertThrows(() => sanitizeEnv(rules, req), (e: unknown) => {
    return e instanceof AcondError && e.code === "invalid_argument" && e.message === msg;
  });
}

// Image.md "Environment variables", examples 1-6, each case the document states.
Deno.test("env example 1: must be xyz, default xyz", () => {
  const r = ["ABC=xyz"];
  assertEquals(sanitizeEnv(r, []), ["ABC=xyz"]);
  assertEquals(sanitizeEnv(r, ["ABC=xyz"]), ["ABC=xyz"]);
  rejects(r, ["ABC=uvw"], ENV_MSG.notAllowed("ABC=uvw"));
  rejects(r, ["ABC="], ENV_MSG.notAllowed("ABC="));
});

Deno.test("env example 2: one of xyz/uvw, default the first", () => {
  const r = ["ABC=xyz", "ABC=uvw"];
  assertEquals(sanitizeEnv(r, []), ["ABC=xyz"]);
  assertEquals(sanitizeEnv(r, ["ABC=uvw"]), ["ABC=uvw"]);
  rejects(r, ["ABC=other"], ENV_MSG.notAllowed("ABC=other"));
});

Deno.test("env example 3: unset or one of the values, default unset", () => {
  const r = ["ABC=", "ABC=xyz", "ABC=uvw"];
  assertEquals(sanitizeEnv(r, []), []);
  assertEquals(sanitizeEnv(r, ["ABC=xyz"]), ["ABC=xyz"]);
  assertEquals(sanitizeEnv(r, ["ABC="]), []);
  rejects(r, ["ABC=q"], ENV_MSG.notAllowed("ABC=q"));
});

Deno.test("env example 4: bare name allows any value, default unset", () => {
  const r = ["HTTPS_PROXY"];
  assertEquals(sanitizeEnv(r, []), []);
  assertEquals(sanitizeEnv(r, ["HTTPS_PROXY=http://x:1/"]), ["HTTPS_PROXY=http://x:1/"]);
  assertEquals(sanitizeEnv(r, ["HTTPS_PROXY="]), []);
});

Deno.test("env example 5: bare name plus a default (ACON rejected this manifest)", () => {
  const r = ["HTTPS_PROXY", "HTTPS_PROXY=http://proxy.example.com:80/"];
  assertEquals(sanitizeEnv(r, []), ["HTTPS_PROXY=http://proxy.example.com:80/"]);
  assertEquals(sanitizeEnv(r, ["HTTPS_PROXY=http://other/"]), ["HTTPS_PROXY=http://other/"]);
  assertEquals(sanitizeEnv(r, ["HTTPS_PROXY="]), []);
});

Deno.test("env example 6: default non-empty, `ABC=` unsets", () => {
  const r = ["ABC=xyz", "ABC=uvw", "ABC="];
  assertEquals(sanitizeEnv(r, []), ["ABC=xyz"]);
  assertEquals(sanitizeEnv(r, ["ABC=uvw"]), ["ABC=uvw"]);
  assertEquals(sanitizeEnv(r, ["ABC="]), []);
  rejects(r, ["ABC=zzz"], ENV_MSG.notAllowed("ABC=zzz"));
});

Deno.test("env: the Image.md manifest example combines rules; defaults fill in", () => {
  const r = [
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    "HTTPS_PROXY",
    "TRAFFIC_LIGHT=",
    "TRAFFIC_LIGHT=Red",
    "TRAFFIC_LIGHT=Yellow",
    "TRAFFIC_LIGHT=Green",
  ];
  assertEquals(sanitizeEnv(r, []), ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
  assertEquals(
    sorted(sanitizeEnv(r, ["TRAFFIC_LIGHT=Red", "HTTPS_PROXY=p"])),
    sorted(["TRAFFIC_LIGHT=Red", "HTTPS_PROXY=p", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]),
  );
});

Deno.test("env: hostile requests are refused with ACON's texts", () => {
  const r = ["A=1", "B"];
  rejects(r, ["A"], ENV_MSG.request); // no '='
  rejects(r, ["=x"], ENV_MSG.request); // no name
  rejects(r, ["B=1", "B=2"], ENV_MSG.request); // repeated
  rejects(r, ["C=1"], ENV_MSG.notAllowed("C=1")); // no rule
  rejects(r, ["B=a\0b"], ENV_MSG.request); // NUL
});

Deno.test("env: malformed manifest rules are refused", () => {
  rejects(["=x"], [], ENV_MSG.manifest);
  rejects([""], [], ENV_MSG.manifest);
  rejects(["A=1", "A=1"], [], ENV_MSG.manifest);
  rejects(["B", "B"], [], ENV_MSG.manifest);
});

Deno.test("env: values keep '=' after the first one", () => {
  assertEquals(sanitizeEnv(["X"], ["X=a=b"]), ["X=a=b"]);
  assertEquals(sanitizeEnv(["X=a=b"], []), ["X=a=b"]);
});
