/**
 * What the boot loads before acond is ready (docs/boot.md, "Measured"): PID 1's static module
 * graph, and the TLS identity made before TCP listens (with the simulator's quote). Heavy modules
 * that are not needed there must stay out: each costs a large part of a second under emulation.
 */
import { assertEquals } from "../../helpers/assert.ts";

const src = new URL("../../../src/", import.meta.url).href;

type Dep = { code?: { specifier: string }; isDynamic?: boolean };
type Mod = { specifier: string; dependencies?: Dep[] };

/** Every module `entries` load statically (dynamic imports not followed; type-only erased). */
async function staticGraph(...entries: string[]): Promise<string[]> {
  const seen = new Set<string>();
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `${src}${entry}`],
      stdout: "piped",
    }).output();
    const mods = new Map<string, Mod>();
    for (const m of JSON.parse(new TextDecoder().decode(out.stdout)).modules as Mod[]) {
      mods.set(m.specifier, m);
    }
    const walk = (spec: string) => {
      if (seen.has(spec)) return;
      seen.add(spec);
      for (const d of mods.get(spec)?.dependencies ?? []) {
        if (d.code && !d.isDynamic) walk(d.code.specifier);
      }
    };
    walk(`${src}${entry}`);
  }
  return [...seen].map((s) => s.startsWith(src) ? s.slice(src.length) : s).sort();
}

/** Node's crypto, TLS and HTTP/2, and the ASN.1/X.509 libraries. */
const HEAVY = /^node:(crypto|tls|http2)$|asn1|pkijs|@peculiar\/x509/;

Deno.test("PID 1's static graph has no node:crypto, node:tls, node:http2, ASN.1, TLS identity or quote code", async () => {
  const graph = await staticGraph("init/pid1.ts");
  assertEquals(graph.includes("daemon.ts"), true); // the walk does reach the daemon
  const late = /^(attest\/ratls\/|attest\/(quote|sim_quote)\.ts$|api\/(h2|tls_accept)\.ts$)/;
  assertEquals(graph.filter((m) => HEAVY.test(m) || late.test(m)), []);
});

Deno.test("the TLS identity made at boot (sim quote included) loads no node:crypto and no ASN.1 library", async () => {
  const graph = await staticGraph("attest/ratls/identity.ts", "attest/sim_quote.ts");
  assertEquals(graph.includes("attest/ratls/cert_build.ts"), true);
  assertEquals(graph.filter((m) => HEAVY.test(m)), []);
});
