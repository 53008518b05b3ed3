/**
 * sys/init.ts ifConfig through the real shim, in a private network namespace (unshare -n) with a
 * veth NIC: address and netmask, IFF_UP, the default route; and clear errors. Needs root.
 */
import { assertEquals, assertMatch, assertOk } from "../../helpers/assert.ts";

const INIT = new URL("../../../src/sys/init.ts", import.meta.url).href;

async function inNetns(code: string): Promise<string> {
  const script = `
    import { ifConfig } from ${JSON.stringify(INIT)};
    const ip = (...a) => new TextDecoder().decode(new Deno.Command("ip", { args: a }).outputSync().stdout);
    const out = [];
    const attempt = (f) => { try { f(); out.push("ok"); } catch (e) { out.push(e.message); } };
    ${code}
    console.log(JSON.stringify(out));
  `;
  const r = await new Deno.Command("unshare", {
    args: ["-n", Deno.execPath(), "eval", "--no-config", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertOk(r.success, new TextDecoder().decode(r.stderr));
  return new TextDecoder().decode(r.stdout);
}

Deno.test({
  name: "ifConfig: lo up; a NIC's address, up and default route in one call; clear errors",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const out = JSON.parse(
      await inNetns(`
      attempt(() => ifConfig("lo"));
      out.push(ip("-o", "link", "show", "lo").includes("UP") ? "lo up" : "lo down");
      ip("link", "add", "d0", "type", "veth", "peer", "name", "d1");
      ip("link", "set", "d1", "up");
      attempt(() => ifConfig("d0", { address: { ip: "10.9.8.7", prefix: 24 }, gateway: "10.9.8.1" }));
      out.push(ip("-o", "-4", "addr", "show", "d0").match(/inet (\\S+)/)?.[1] ?? "no address");
      out.push(ip("-o", "link", "show", "d0").match(/<([^>]*)>/)?.[1] ?? "");
      out.push(ip("route", "show", "default").trim());
      attempt(() => ifConfig("nosuch0"));
      attempt(() => ifConfig("nosuch0", { address: { ip: "10.0.0.2", prefix: 8 } }));
      attempt(() => ifConfig("d0", { gateway: "192.168.77.1" })); // not on a connected network
    `),
    ) as string[];
    assertEquals(out.slice(0, 4), ["ok", "lo up", "ok", "10.9.8.7/24"]);
    assertMatch(out[4], /\bUP\b/);
    assertMatch(out[5], /^default via 10\.9\.8\.1 dev d0/);
    assertMatch(out[6], /^SIOCSIFFLAGS nosuch0: (ENODEV|errno 19)/);
    assertMatch(out[7], /^SIOCSIFADDR nosuch0: (ENODEV|errno 19)/);
    assertMatch(out[8], /^SIOCADDRT d0 via 192\.168\.77\.1: (ENETUNREACH|errno 101)/);
  },
});
