/**
 * acond's V8 flags are one setting written in four places: the dev launcher (scripts/build), PID
 * 1's exec (initramfs/init.c), the build-time run that prepares Deno's code cache
 * (initramfs/warm_cache.sh) and the single-executable layout (scripts/initramfs). They must agree:
 * a flag that V8 hashes into its code cache would otherwise make the boot reject the prepared cache.
 */
import { assertEquals } from "../../helpers/assert.ts";
import { TOP } from "../../helpers/daemon.ts";

const FLAGS = /--v8-flags=([^\s"'\\]+)/g;

function flagsIn(file: string): string[] {
  return [...Deno.readTextFileSync(`${TOP}/${file}`).matchAll(FLAGS)].map((m) => m[1]);
}

Deno.test("acond's V8 flags: the same in the launcher, PID 1's exec, the cache warm-up and deno compile", () => {
  const want = ["--max-semi-space-size=8"];
  for (
    const f of ["scripts/build", "initramfs/init.c", "initramfs/warm_cache.sh", "scripts/initramfs"]
  ) {
    assertEquals(flagsIn(f), want, f);
  }
  // The built launcher carries them; aconctl's does not need them.
  assertEquals(flagsIn("dist/acond"), want);
  assertEquals(flagsIn("dist/aconctl"), []);
});
