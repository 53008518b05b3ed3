/**
 * The launch configuration bound to MRCONFIGID, against dist/acond --dev (sim TEE whose
 * MRCONFIGID is set with --sim-mrconfigid): the right document is applied (trustedSigners refuses
 * another signer, interactive and the digest in the boot event, verify --expect-mrconfigid);
 * a document with one byte changed is refused and no image is accepted, while Health and Report
 * still answer.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals, assertMatch, assertOk } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, opensslHex, signedManifest } from "../helpers/image.ts";
import { aconctl } from "../helpers/aconctl.ts";

async function rpcError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

Deno.test("launch config: bound by MRCONFIGID it is applied; trustedSigners refuses another signer", async () => {
  const a = await makeSigner("ec-p384");
  const b = await makeSigner("ec-p384", undefined, true);
  const doc = JSON.stringify({
    version: 1,
    trustedSigners: [`sha384/${await opensslHex("sha384", a.certificate)}`],
    interactive: true,
    limits: { pidsMax: 77 },
  });
  const dir = await Deno.makeTempDir({ prefix: "acond-lc-" });
  const file = `${dir}/config.json`;
  await Deno.writeTextFile(file, doc);
  const digest = await opensslHex("sha384", doc);
  const d = await startDaemon({ args: ["--launch-config", file, "--sim-mrconfigid", digest] });
  try {
    const c = d.client();
    const boot = (await c.getEventLog({})).lines[1];
    assertMatch(boot, /"interactive":true/);
    assertMatch(boot, /"pids_max":77/);
    assertOk(boot.endsWith(`"launch_config":"${digest}"}`), boot);
    const id = (await c.addManifest(await signedManifest(a, baseManifest()))).imageId;
    const e = await rpcError(c.addManifest(await signedManifest(b, baseManifest())));
    assertEquals(e.code, Code.PermissionDenied, e.message);
    assertMatch(e.message, /not in the launch configuration's trustedSigners/);
    const bundle = `${dir}/bundle.json`;
    const r = await aconctl("--socket", d.socket, "report", "--out", bundle);
    assertEquals(r.code, 0, r.out);
    const v = await aconctl(
      "verify",
      bundle,
      "--allow-sim",
      "--allow-interactive",
      "--expect-image",
      id,
      "--expect-mrconfigid",
      digest,
    );
    assertEquals(v.code, 0, v.out);
    const w = await aconctl(
      "verify",
      bundle,
      "--allow-sim",
      "--allow-interactive",
      "--expect-mrconfigid",
      "00",
    );
    assertEquals(w.code, 1, w.out);
    assertMatch(w.out, /MRCONFIGID/);
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch config: one byte changed is refused; no image accepted; Health and Report answer", async () => {
  const doc = JSON.stringify({ version: 1, minHash: "sha384" });
  const digest = await opensslHex("sha384", doc);
  const dir = await Deno.makeTempDir({ prefix: "acond-lc-" });
  const file = `${dir}/config.json`;
  await Deno.writeTextFile(file, doc.replace("sha384", "sha256")); // "sha384" → "sha256": the document changed
  const changed = await opensslHex("sha384", await Deno.readFile(file));
  const d = await startDaemon({ args: ["--launch-config", file, "--sim-mrconfigid", digest] });
  try {
    const c = d.client();
    const signer = await makeSigner("ec-p384");
    const e = await rpcError(c.addManifest(await signedManifest(signer, baseManifest())));
    assertEquals(e.code, Code.FailedPrecondition, e.message);
    assertMatch(e.message, /launch configuration refused/);
    assertOk(e.message.includes(changed) && e.message.includes(digest), e.message);
    assertMatch(
      d.stderr(),
      /launch configuration refused: its SHA-384 .* is not the TD's MRCONFIGID/,
    );
    const boot = (await c.getEventLog({})).lines[1];
    assertOk(!boot.includes("launch_config"), boot);
    const rep = await c.report({ nonceLo: 0n, nonceHi: 0n, requestType: 0 });
    assertEquals(rep.data.length, 1024);
    const h = await d.curl("Health", {});
    assertEquals(h.status, 200, h.raw);
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch config: its minHash and listeners take effect (a sha256 certificate accepted, the API on its TCP port)", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const doc = JSON.stringify({
    version: 1,
    minHash: "sha256",
    listeners: { tcp: `127.0.0.1:${port}`, vsock: null },
  });
  const dir = await Deno.makeTempDir({ prefix: "acond-lc-" });
  await Deno.writeTextFile(`${dir}/config.json`, doc);
  const digest = await opensslHex("sha384", doc);
  const d = await startDaemon({
    // Plain HTTP on the configured TCP port (--tls off): what is tested is the port.
    args: ["--launch-config", `${dir}/config.json`, "--sim-mrconfigid", digest, "--tls", "off"],
  });
  try {
    const c = d.client();
    assertMatch((await c.getEventLog({})).lines[1], /"min_hash":"sha256"/);
    const weak = await makeSigner("ec-p384", "sha256");
    await c.addManifest(await signedManifest(weak, baseManifest())); // refused by default
    const r = await fetch(`http://127.0.0.1:${port}/acon.grpc.AconService/Health`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assertEquals(r.status, 200);
    assertMatch(await r.text(), /"minHash":"sha256"/);
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
