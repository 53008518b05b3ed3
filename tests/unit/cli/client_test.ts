import { assertEquals } from "../../helpers/assert.ts";
import { DEFAULT_ADDR, resolveAddr } from "../../../src/cli/client.ts";

Deno.test("resolveAddr() prefers --socket, then --tcp, then ACON_ADDR, then the default", () => {
  assertEquals(resolveAddr("/s.sock", "h:1", "x:2"), "unix:/s.sock");
  assertEquals(resolveAddr(undefined, "127.0.0.1:1025"), "tcp:127.0.0.1:1025");
  assertEquals(resolveAddr(undefined, "tcp:127.0.0.1:1025"), "tcp:127.0.0.1:1025");
  assertEquals(resolveAddr(undefined, undefined, "/run/x.sock"), "unix:/run/x.sock");
  assertEquals(resolveAddr(undefined, undefined, "unix:/run/x.sock"), "unix:/run/x.sock");
  assertEquals(resolveAddr(undefined, undefined, "localhost:1025"), "tcp:localhost:1025");
  assertEquals(resolveAddr(), DEFAULT_ADDR);
});

Deno.test("aconctl bundles no server module: only cli/, gen/, wire constants, pure verify code", async () => {
  const src = new URL("../../src/", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${src}cli/aconctl.ts`],
    stdout: "piped",
  }).output();
  type Dep = { code?: { specifier: string } };
  type Mod = { specifier: string; dependencies?: Dep[] };
  const mods = new Map<string, Mod>();
  for (const m of JSON.parse(new TextDecoder().decode(out.stdout)).modules as Mod[]) {
    mods.set(m.specifier, m);
  }
  // What runs (type-only imports are erased from the bundle): the code edges from the entry.
  const seen = new Set<string>();
  const walk = (spec: string) => {
    if (seen.has(spec)) return;
    seen.add(spec);
    for (const d of mods.get(spec)?.dependencies ?? []) if (d.code) walk(d.code.specifier);
  };
  walk(`${src}cli/aconctl.ts`);
  const ours = [...seen].filter((s) => s.startsWith(src)).map((s) => s.slice(src.length)).sort();
  // Wire constants, the generic hash helpers, the pure verification code, and the pure detach
  // hotkey the console shares with attach / exec -it.
  const allowed =
    /^(cli\/|gen\/|api\/wire\.ts$|digest(_boot)?\.ts$|attest\/(verify|replay|tdreport|quote|bootevent|attestation|sim_values)\.ts$|console\/hotkey\.ts$)/;
  assertEquals(ours.filter((p) => !allowed.test(p)), []);
});
