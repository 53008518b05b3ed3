/**
 * The TCP listener's attested TLS against the real dev daemon (docs/api.md "Attested TLS",
 * docs/aconctl.md): dist/aconctl verifies the certificate's evidence before any request, curl -k
 * speaks Connect JSON over h2 and HTTP/1.1, the event log and the boot event say what was
 * served; servers made in the test present forged certificates and see no request.
 */
import { freePort, servedCertificate } from "../helpers/net.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { aconctl } from "../helpers/aconctl.ts";
import { forgedIdentity, simIdentity } from "../helpers/ratls.ts";
import { sha384 } from "@noble/hashes/sha2.js";
import { parseCert } from "../../src/attest/ratls/cert.ts";
import { toHex } from "../../src/digest_boot.ts";

const dec = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
  stdin = "",
): Promise<{ code: number; out: string }> {
  const p = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const o = await p.output();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** The certificate the server at 127.0.0.1:port presents, fetched by openssl s_client (DER). */
/** Builds the one-file Go program `source` as `dir`/`name` (Debian's golang-go: scripts/setup). */
async function goBuild(dir: string, name: string, source: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/main.go`, source);
  await Deno.writeTextFile(`${dir}/go.mod`, `module ${name}\n\ngo 1.19\n`);
  const b = await new Deno.Command("go", {
    args: ["build", "-o", `${dir}/${name}`, "."],
    cwd: dir,
    env: { GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(b.code, 0, `go build (golang-go: scripts/setup): ${dec.decode(b.stderr)}`);
}

/**
 * A TLS server with the given certificate and key that records whether anything arrives after
 * the handshake (an aconctl that refused it must send nothing) and answers 404 to a request.
 */
function recordingServer(certPem: string, keyPem: string) {
  const l = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem });
  let received = 0;
  let handshakes = 0;
  const done = (async () => {
    for await (const c of l) {
      void (async () => {
        try {
          await c.handshake();
          handshakes++;
          const buf = new Uint8Array(4096);
          const n = await c.read(buf);
          if (n !== null) {
            received += n;
            // Not acond: an HTTP answer that says so (the client then exits 3).
            await c.write(
              new TextEncoder().encode(
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
              ),
            );
          }
        } catch {
          /* the client went */
        } finally {
          try {
            c.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    get received() {
      return received;
    },
    get handshakes() {
      return handshakes;
    },
    async close() {
      l.close();
      await done;
    },
  };
}

Deno.test("aconctl --tcp: the real dev acond is accepted with --allow-sim, refused without (exit 4, clear message)", async () => {
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`] });
  try {
    const ok = await aconctl("--allow-sim", "--tcp", `127.0.0.1:${port}`, "--json", "health");
    assertEquals(ok.code, 0, ok.out);
    assertEquals(JSON.parse(ok.out).tee, "sim");
    // Streams and the raw blob route go through the same verified connection: ps and images.
    const ps = await aconctl("--allow-sim", "--tcp", `127.0.0.1:${port}`, "--json", "ps");
    assertEquals([ps.code, JSON.parse(ps.out)], [0, []]);
    const no = await aconctl("--tcp", `127.0.0.1:${port}`, "health");
    assertEquals(no.code, 4, no.out);
    assertEquals(
      no.out,
      `aconctl health: refusing acond at 127.0.0.1:${port}: its TLS certificate's evidence ` +
        "does not verify:\n  - the evidence is simulated (not TDX hardware)\n" +
        "  (a dev-mode or sim-TEE acond: accept simulated evidence with --allow-sim)\n",
    );
    // A policy's reference values apply before any request, as for verify.
    const pol = await Deno.makeTempFile({ suffix: ".json" });
    await Deno.writeTextFile(pol, JSON.stringify({ allowSim: true, mrtd: "00".repeat(48) }));
    const wrong = await aconctl("--policy", pol, "--tcp", `127.0.0.1:${port}`, "health");
    await Deno.remove(pol);
    assertEquals(wrong.code, 4, wrong.out);
    assertMatch(wrong.out, /- MRTD is [0-9a-f]{96}, expected 0{96}\n/);
  } finally {
    await d.stop();
  }
});

Deno.test("aconctl --tcp refuses a certificate whose evidence binds another key, and sends it nothing", async () => {
  const { id } = await simIdentity();
  const forged = await forgedIdentity(id);
  const srv = recordingServer(forged.certPem, forged.keyPem);
  try {
    const r = await aconctl("--allow-sim", "--tcp", `127.0.0.1:${srv.port}`, "ps");
    assertEquals(r.code, 4, r.out);
    assertMatch(r.out, /^aconctl ps: refusing acond at 127\.0\.0\.1:\d+: its TLS certificate's/);
    assertMatch(
      r.out,
      /- the evidence's pubkey-hash is not the hash of this certificate's public key/,
    );
    assertMatch(r.out, /- the event log's TlsKey event is for another key/);
    // The genuine certificate with its own key is accepted by the same client (control).
    const good = recordingServer(id.certPem, id.keyPem);
    try {
      const g = await aconctl("--allow-sim", "--tcp", `127.0.0.1:${good.port}`, "ps");
      assertEquals(g.code, 3, g.out); // verified, then the request reached a server that is not acond
      assert(good.received > 0, "the request was sent to the verified server");
    } finally {
      await good.close();
    }
    assert(srv.handshakes >= 1, "aconctl fetched the forged certificate");
    assertEquals(srv.received, 0, "nothing was sent to the forged server");
  } finally {
    await srv.close();
  }
});

Deno.test("a server presenting acond's real certificate without its key (a Go TLS server) is refused", async () => {
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`] });
  const dir = await Deno.makeTempDir({ prefix: "mitm-" });
  let mitm: Deno.ChildProcess | undefined;
  try {
    const cert = await servedCertificate(port);
    await Deno.writeFile(`${dir}/cert.der`, cert);
    // Go's tls.Certificate built by hand is not checked against its key: the server presents
    // acond's certificate and signs the handshake with a key of its own.
    await goBuild(
      dir,
      "mitm",
      `package main
import ("crypto/ecdsa";"crypto/elliptic";"crypto/rand";"crypto/tls";"fmt";"os")
func main() {
  der, _ := os.ReadFile(os.Args[1])
  k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
  cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}}
  l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
  if err != nil { panic(err) }
  fmt.Println(l.Addr().String())
  for { c, err := l.Accept(); if err == nil { go func() { b := make([]byte, 1); c.Read(b); if len(b) > 0 { fmt.Println("received") }; c.Close() }() } }
}
`,
    );
    mitm = new Deno.Command(`${dir}/mitm`, {
      args: [`${dir}/cert.der`],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = mitm.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const addr = (await reader.read()).value!.trim();
    const r = await aconctl("--allow-sim", "--tcp", addr, "health");
    assertEquals(r.code, 4, r.out);
    assertMatch(r.out, /^aconctl health: TLS with 127\.0\.0\.1:\d+ failed: /);
  } finally {
    try {
      mitm?.kill("SIGKILL");
    } catch { /* gone */ }
    await mitm?.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await d.stop();
  }
});

Deno.test("plain HTTP (--tls off) is refused unless --insecure, which works and warns; the boot event records tls", async () => {
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`, "--tls", "off"] });
  try {
    const refused = await aconctl("--allow-sim", "--tcp", `127.0.0.1:${port}`, "health");
    assertEquals(refused.code, 4, refused.out);
    assertEquals(
      refused.out,
      `aconctl health: acond at 127.0.0.1:${port} does not speak TLS (plain HTTP: it runs with ` +
        "acond.tls=off or --tls off); refusing to send anything unverified. Talk to it anyway " +
        "with --insecure\n",
    );
    const ins = await aconctl("--insecure", "--tcp", `127.0.0.1:${port}`, "--json", "health");
    assertEquals(ins.code, 0, ins.out);
    assertMatch(
      ins.out,
      /\naconctl: WARNING: --insecure: the connection to 127\.0\.0\.1:\d+ is NOT verified/,
    );
    const log = (await d.client().getEventLog({})).lines;
    assertMatch(log[1], /^acond Boot \{.*"min_hash":"sha384","tls":false,/);
    assert(!log.some((l) => l.startsWith("acond TlsKey ")), "no key, no TlsKey event");
  } finally {
    await d.stop();
  }
  // --no-tls is the same; the default is TLS, recorded as such.
  const port2 = freePort();
  const d2 = await startDaemon({ args: ["--tcp", `127.0.0.1:${port2}`] });
  try {
    const lines = (await d2.client().getEventLog({})).lines;
    assertMatch(lines[1], /"tls":true,/);
    const ins = await aconctl("--insecure", "--tcp", `127.0.0.1:${port2}`, "--json", "health");
    assertEquals(ins.code, 0, ins.out); // --insecure over TLS too, with the warning
    assertMatch(ins.out, /WARNING: --insecure/);
  } finally {
    await d2.stop();
  }
});

Deno.test("curl -k: Connect JSON Health on the TLS listener over h2 and HTTP/1.1; TLS 1.1 is refused", async () => {
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`] });
  try {
    for (const v of ["--http2", "--http1.1"]) {
      const r = await run("curl", [
        "-sSk",
        v,
        "-w",
        "\n%{http_version} %{http_code}",
        "-H",
        "content-type: application/json",
        "-d",
        "{}",
        `https://127.0.0.1:${port}/acon.grpc.AconService/Health`,
      ]);
      assertEquals(r.code, 0, r.out);
      const [body, status] = r.out.split("\n");
      assertEquals(JSON.parse(body).tee, "sim");
      assertEquals(status, v === "--http2" ? "2 200" : "1.1 200");
    }
    const old = await run("curl", [
      "-sSk",
      "--tlsv1.0",
      "--tls-max",
      "1.1",
      `https://127.0.0.1:${port}/`,
    ]);
    assert(old.code !== 0, `TLS 1.1 must be refused: ${old.out}`);
  } finally {
    await d.stop();
  }
});

Deno.test("the event log (GetEventLog over TLS) holds the TlsKey event of the served key and replays to RTMR3", async () => {
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`] });
  try {
    const spki = toHex(sha384(parseCert(await servedCertificate(port)).spki));
    const r = await aconctl("--allow-sim", "--tcp", `127.0.0.1:${port}`, "--json", "event-log");
    assertEquals(r.code, 0, r.out);
    const j = JSON.parse(r.out);
    assertEquals(j.matches, true);
    assertEquals(j.lines.length, 3);
    assertEquals(j.lines[2], `acond TlsKey {"alg":"ecdsa-p384","spki_sha384":"${spki}"}`);
    // A fresh report (the caller's nonce) verifies with the TlsKey event in its log.
    const rep = await aconctl(
      "--allow-sim",
      "--tcp",
      `127.0.0.1:${port}`,
      "report",
      "--quote",
      "--verify",
      "--allow-sim",
    );
    assertEquals(rep.code, 0, rep.out);
    assertMatch(rep.out, /verification: OK/);
  } finally {
    await d.stop();
  }
});

Deno.test("a Go HTTPS client set up as aconcli's (InsecureSkipVerify) reads acond's certificate and gets REST answers", async () => {
  // Go's crypto/x509 refuses a certificate with an OID arc above 2^31 ("x509: malformed extension
  // OID field"), even when the client skips verification: acond's context once sat in an
  // extension under a UUID OID and every Go client (aconcli, grpc-go) failed the handshake.
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`] });
  const dir = await Deno.makeTempDir({ prefix: "goclient-" });
  try {
    await goBuild(
      dir,
      "goclient",
      `package main
import ("crypto/tls";"fmt";"io";"net/http";"os")
func main() {
  c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
  r, err := c.Get("https://" + os.Args[1] + "/api/v1/container/inspect")
  if err != nil { fmt.Println("error:", err); os.Exit(1) }
  b, _ := io.ReadAll(r.Body)
  fmt.Println(r.StatusCode, string(b))
}
`,
    );
    const r = await new Deno.Command(`${dir}/goclient`, {
      args: [`127.0.0.1:${port}`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(dec.decode(r.stdout).trim(), '200 {"info":[]}', dec.decode(r.stderr));
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
