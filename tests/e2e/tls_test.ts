/**
 * PID 1 serves the forwarded TCP API over attested TLS (acond.tls=on; the other e2e helpers speak
 * plain HTTP with acond.tls=off): dist/aconctl verifies the certificate (sim TEE: --allow-sim)
 * and refuses it without; the boot event says "tls":true and the TlsKey event follows it; a
 * native gRPC client (buf curl, trusting the served certificate) is answered by PID 1.
 */
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { boot } from "./qemu.ts";
import { TOP } from "../helpers/daemon.ts";
import { servedCertificateFile } from "../helpers/net.ts";

async function aconctl(args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(`${TOP}/dist/aconctl`, { args, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test("PID 1: the TCP API is attested TLS; aconctl --allow-sim verifies it, and refuses it without", async () => {
  const vm = await boot(["acond.tls=on", "acond.timeout=0"]);
  try {
    // The listeners are up when the ready line is out (TCP waits for its certificate).
    await vm.waitSerial(/acond ready as PID 1/, 180_000);
    // Where the identity's time went, and what of it the listeners waited for after the daemon.
    assertMatch(
      vm.serial(),
      /TLS identity in \d+ ms: key \d+, event and quote \d+, certificate \d+/,
    );
    assertMatch(
      vm.serial(),
      /ms per phase: .*, listeners \d+ \(idle timer \d+, tls identity \d+\)/,
    );
    const addr = ["--tcp", `127.0.0.1:${vm.port}`];
    const ok = await aconctl(["--allow-sim", ...addr, "--json", "event-log"]);
    assertEquals(ok.code, 0, ok.out);
    const j = JSON.parse(ok.out);
    assertEquals(j.matches, true);
    assertMatch(j.lines[1], /^acond Boot \{.*"pid1":true,.*"tls":true,/);
    assertMatch(j.lines[2], /^acond TlsKey \{"alg":"ecdsa-p384","spki_sha384":"[0-9a-f]{96}"\}$/);
    // Native gRPC (HTTP/2 trailers: node:http2 behind ALPN h2) from PID 1.
    const dir = await Deno.makeTempDir({ prefix: "acond-served-" });
    const served = await servedCertificateFile(vm.port, dir);
    const buf = await new Deno.Command(`${TOP}/node_modules/.bin/buf`, {
      args: [
        "curl",
        "--schema",
        `${TOP}/proto/acon.proto`,
        "--protocol",
        "grpc",
        "--cacert",
        served,
        "-d",
        "{}",
        `https://localhost:${vm.port}/acon.grpc.AconService/Health`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(dir, { recursive: true });
    const dec = new TextDecoder();
    assertEquals(buf.code, 0, dec.decode(buf.stderr));
    assertEquals(JSON.parse(dec.decode(buf.stdout)).pid1, true);
    const no = await aconctl([...addr, "health"]);
    assertEquals(no.code, 4, no.out);
    assertMatch(no.out, /the evidence is simulated \(not TDX hardware\)/);
    const off = await aconctl(["--allow-sim", ...addr, "shutdown", "--grace", "1"]);
    assertEquals(off.code, 0, off.out);
    assertEquals(await vm.waitExit(60_000), 0);
  } finally {
    await vm.kill();
  }
});
