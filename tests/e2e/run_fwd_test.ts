/**
 * ./scripts/run with FWD (one TCG boot): the banner names the forwarded ports, a busybox httpd
 * container started through the forwarded API with aconctl run serves its page to the host's curl
 * on the forwarded port (containers share the VM's network), aconctl shutdown ends the script.
 */
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { buildRootfs } from "../helpers/busybox.ts";
import { ociLayout } from "../helpers/oci.ts";
import { TOP } from "./qemu.ts";

const dec = new TextDecoder();

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function aconctl(args: string[]): Promise<string> {
  const r = await new Deno.Command(`${TOP}/dist/aconctl`, { args, stdin: "null" }).output();
  assertEquals(r.code, 0, `aconctl ${args.join(" ")}: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

Deno.test("scripts/run FWD=H:8080 serves a container's HTTP port to the host", async () => {
  const w = await Deno.makeTempDir({ prefix: "run-fwd-" });
  const port = freePort();
  const app = freePort();
  const run = new Deno.Command(`${TOP}/scripts/run`, {
    env: { PORT: String(port), FWD: `${app}:8080`, SERIAL: `${w}/serial.log`, ACCEL: "tcg" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const pump = (async () => {
    for await (const c of run.stderr) err += dec.decode(c, { stream: true });
  })();
  try {
    await aconctl(["keygen", "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]);
    await ociLayout(`${w}/oci`, "web", [
      (r) => buildRootfs(r, { "www/index.html": [0o644, "served through FWD\n"] }),
    ], { entrypoint: ["/bin/httpd"], cmd: ["-f", "-p", "8080", "-h", "/www"], env: ["PATH=/bin"] });
    await aconctl(["generate", "--out", `${w}/img`, `oci:${w}/oci:web`, "--signal", "KILL"]);
    await aconctl(["sign", `${w}/img`, "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]);
    while (!/Serial console:/.test(err)) {
      const st = await Promise.race([run.status, new Promise((r) => setTimeout(r, 500, null))]);
      if (st) throw new Error(`scripts/run ended: ${err}`);
    }
    assertMatch(err, new RegExp(`127\\.0\\.0\\.1:${app} -> the VM's port 8080`));
    assertMatch(err, /containers share the VM network/);
    // scripts/run serves attested TLS with the sim TEE: aconctl verifies it with --allow-sim.
    const addr = ["--allow-sim", "--tcp", `127.0.0.1:${port}`];
    const cid = (await aconctl([...addr, "run", "-q", `${w}/img`])).trim();
    assertMatch(cid, /^\d+$/);
    let page = "";
    for (let i = 0; i < 100 && page === ""; i++) {
      const c = await new Deno.Command("curl", {
        args: ["-sS", "--max-time", "5", `http://127.0.0.1:${app}/index.html`],
      }).output();
      page = dec.decode(c.stdout);
      if (!page) await new Promise((r) => setTimeout(r, 300));
    }
    assertEquals(page, "served through FWD\n");
    await aconctl([...addr, "shutdown", "--grace", "2"]);
    assertEquals((await run.status).code, 0, err);
  } finally {
    try {
      run.kill("SIGINT");
    } catch { /* ended */ }
    await run.status;
    await pump;
    await Deno.remove(w, { recursive: true }).catch(() => {});
  }
});
