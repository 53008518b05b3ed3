import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  bindingProblem,
  launchConfigDigest,
  LaunchConfigError,
  parseLaunchConfig,
  signerTrusted,
} from "../../../src/attest/launch_config.ts";
import { bootEventLine, parseBootEvent } from "../../../src/attest/bootevent.ts";
import { toHex } from "../../../src/digest_boot.ts";

const enc = new TextEncoder();
const parse = (v: unknown) =>
  parseLaunchConfig(enc.encode(typeof v === "string" ? v : JSON.stringify(v)));
// `printf '{"version":1}' | sha384sum`
const SHA384_OF_DOC =
  "8969d9854acbc2996dce4a3a176a58ce93a09ebadd0633e1032d5a9217facfefda48fb1f5d4b84f361a7ed0ead798d52";
const SIGNER = "sha384/" + "ab".repeat(48);

Deno.test("launch config: every field parsed", () => {
  assertEquals(parse({ version: 1 }), {});
  assertEquals(
    parse({
      version: 1,
      minHash: "sha512",
      trustedSigners: [SIGNER, "sha256/" + "0f".repeat(32)],
      interactive: true,
      limits: { memoryMax: 1048576, pidsMax: 10, reserveMemory: 0, reservePids: 5 },
      listeners: { tcp: "127.0.0.1:1025", vsock: 1024 },
    }),
    {
      minHash: "sha512",
      trustedSigners: [SIGNER, "sha256/" + "0f".repeat(32)],
      interactive: true,
      limits: { memoryMax: 1048576, pidsMax: 10, reserveMemory: 0, reservePids: 5 },
      listeners: { tcp: { hostname: "127.0.0.1", port: 1025 }, vsock: 1024 },
    },
  );
  assertEquals(parse({ version: 1, listeners: { tcp: null, vsock: null } }), {
    listeners: { tcp: null, vsock: null },
  });
});

Deno.test("launch config: unknown keys and bad values are refused, each named", () => {
  const bad: [unknown, string][] = [
    ["not json", "not UTF-8 JSON"],
    [[1], "must be an object"],
    [{}, "version must be 1"],
    [{ version: 2 }, "version must be 1"],
    [{ version: 1, minhash: "sha384" }, 'unknown key "minhash"'],
    [{ version: 1, minHash: "md5" }, "minHash"],
    [{ version: 1, trustedSigners: SIGNER }, "trustedSigners must be a list"],
    [{ version: 1, trustedSigners: [] }, "must not be empty"],
    [{ version: 1, trustedSigners: ["sha384/abc"] }, "trustedSigners[0]"],
    [{ version: 1, trustedSigners: [SIGNER + "/" + "ab".repeat(48)] }, "trustedSigners[0]"],
    [{ version: 1, interactive: "no" }, "interactive must be a boolean"],
    [{ version: 1, limits: { memoryMax: -1 } }, "limits.memoryMax"],
    [{ version: 1, limits: { pidsMax: 1.5 } }, "limits.pidsMax"],
    [{ version: 1, limits: { cpu: 1 } }, 'unknown key "cpu" in limits'],
    [{ version: 1, listeners: { tcp: 1025 } }, "listeners.tcp"],
    [{ version: 1, listeners: { tcp: "nohost" } }, "listeners.tcp"],
    [{ version: 1, listeners: { vsock: -1 } }, "listeners.vsock"],
    [{ version: 1, listeners: { unix: "/x" } }, 'unknown key "unix" in listeners'],
  ];
  for (const [doc, msg] of bad) assertThrows(() => parse(doc), LaunchConfigError, msg);
  assertThrows(
    () => parseLaunchConfig(new Uint8Array([0x7b, 0xff, 0x7d])),
    LaunchConfigError,
    "UTF-8",
  );
  assertThrows(() => parseLaunchConfig(new Uint8Array(65 * 1024)), LaunchConfigError, "larger");
});

Deno.test("launch config binding: SHA-384 of the exact bytes must equal MRCONFIGID", () => {
  const doc = enc.encode('{"version":1}');
  const d = launchConfigDigest(doc);
  assertEquals(toHex(d), SHA384_OF_DOC);
  assertEquals(bindingProblem(doc, d), null);
  const changed = enc.encode('{"version":1} ');
  const p = bindingProblem(changed, d);
  assertEquals(typeof p, "string");
  assertEquals(p!.includes(toHex(d)) && p!.includes(toHex(launchConfigDigest(changed))), true);
});

Deno.test("trustedSigners: absent admits all; present admits only its alg/digest entries", () => {
  assertEquals(signerTrusted(undefined, "sha384", "ab".repeat(48)), true);
  assertEquals(signerTrusted([SIGNER], "sha384", "ab".repeat(48)), true);
  assertEquals(signerTrusted([SIGNER], "sha384", "cd".repeat(48)), false);
  assertEquals(signerTrusted([SIGNER], "sha512", "ab".repeat(48)), false);
});

Deno.test("boot event records the launch configuration's digest and parses it back", () => {
  const facts = {
    version: "0.1.0",
    tee: "sim",
    pid1: false,
    interactive: false,
    debugConsole: false,
    minHash: "sha384",
    launchConfig: "ab".repeat(48),
  };
  const line = bootEventLine(facts);
  assertEquals(line.endsWith(`,"launch_config":"${"ab".repeat(48)}"}`), true);
  assertEquals(parseBootEvent(line), facts);
  assertThrows(() => bootEventLine({ ...facts, launchConfig: "x" }), Error, "launch_config");
});
