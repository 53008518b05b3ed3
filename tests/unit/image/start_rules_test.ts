/**
 * What container Start requires of a manifest is refused by acceptManifest (AddManifest) — each
 * case is checked against Start's own pure checks (container/env.ts, container/ids.ts and the
 * shim's limits), so the two cannot drift apart silently — and manifests at the limits, which
 * some Start runs, pass.
 */
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  baseManifest,
  canonicalJson,
  STARTABLE_AT_LIMITS,
  UNSTARTABLE_MANIFESTS,
} from "../../helpers/image.ts";
import { acceptManifest, parseManifest } from "../../../src/image/manifest.ts";
import { MAX_ARGS, MAX_ENV, MAX_UIDS } from "../../../src/image/start_rules.ts";
import type { Manifest } from "../../../src/state.ts";
import { sanitizeEnv } from "../../../src/container/env.ts";
import { validUids } from "../../../src/container/ids.ts";
import { AcondError } from "../../../src/errors.ts";

/** Start's checks of the manifest (container/service.ts start()), for a Start with `envs`. */
function startRefuses(m: Manifest, overflowUid = 65534, envs: string[] = []): boolean {
  if (!m.entrypoint.length || !m.entrypoint[0] || m.entrypoint.length > MAX_ARGS) return true;
  let env: string[];
  try {
    env = sanitizeEnv(m.env, envs);
  } catch {
    return true;
  }
  return env.length > MAX_ENV || !validUids(m.uids, overflowUid);
}

/** Caller envs that unset every variable the rules let a caller unset (`K=`). */
function unsetAll(rules: string[]): string[] {
  const keys = rules.filter((r) => !r.includes("=") || r.endsWith("=")).map((r) => r.split("=")[0]);
  return [...new Set(keys)].map((k) => `${k}=`);
}

const text = (overrides: Record<string, unknown>) => canonicalJson(baseManifest(overrides));

for (const [name, overrides, re] of UNSTARTABLE_MANIFESTS) {
  Deno.test(`unstartable manifest refused: ${name}`, () => {
    const m = parseManifest(text(overrides), "sha384"); // the format is fine
    assertEquals(startRefuses(m), true, "Start would run it");
    assertThrows(() => acceptManifest(text(overrides), "sha384"), (e: unknown) => {
      assertEquals(e instanceof AcondError && e.code === "invalid_argument", true, String(e));
      assertEquals(re.test((e as Error).message), true, (e as Error).message);
      return true;
    });
  });
}

for (const [name, overrides] of STARTABLE_AT_LIMITS) {
  Deno.test(`manifest at the limits accepted: ${name}`, () => {
    const m = acceptManifest(text(overrides), "sha384");
    assertEquals(startRefuses(m, 65534, unsetAll(m.env)), false);
  });
}

Deno.test("the overflow uid is the kernel's, as Start reads it", () => {
  const t = text({ uids: [1000, 4242] });
  assertEquals(acceptManifest(t, "sha384").uids, [1000, 4242]);
  assertEquals(startRefuses(parseManifest(t, "sha384"), 4242), true);
  assertThrows(
    () => acceptManifest(t, "sha384", 4242),
    AcondError,
    "Invalid manifest: uids[1] must not be the overflow uid 4242",
  );
});

Deno.test("one uid limit: Start's validUids and AddManifest agree", () => {
  const uids = Array.from({ length: MAX_UIDS + 1 }, (_, i) => i + 1);
  assertEquals(validUids(uids.slice(0, MAX_UIDS), 65534), true);
  assertEquals(validUids(uids, 65534), false);
  assertEquals(MAX_UIDS, 32); // Start's limit before it became one constant
});
