/**
 * The image side of aconctl end to end, only through dist/aconctl (and real tools for the
 * fixtures): a busybox-static rootfs made into an OCI layout by umoci, and a docker-archive of it by
 * skopeo → generate → sign → push to the real dist/acond --dev → the container runs (Exec through
 * the API). An aconcli repository made at test time in aconcli's layout (§10.3), signed with
 * openssl over Go's JSON form, is imported and pushed. keygen refuses to overwrite, manifest
 * validate lists every problem, push names a non-canonical manifest, --help works everywhere.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";
import { dockerArchive, ociLayout } from "../helpers/oci.ts";
import { makeSigner } from "../helpers/pki.ts";
import { opensslHex } from "../helpers/image.ts";
import { dec } from "../helpers/containers.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function aconctl(args: string[], cwd?: string): Promise<Run> {
  const out = await new Deno.Command(`${TOP}/dist/aconctl`, { args, cwd, stdin: "null" }).output();
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

async function ok(args: string[], cwd?: string): Promise<string> {
  const r = await aconctl(args, cwd);
  assertEquals(r.code, 0, `aconctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function tmp(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "aconctl-image-" });
}

/** An OCI layout (umoci) of a busybox rootfs whose config runs `sleep 1000`. */
async function busyboxLayout(layout: string): Promise<void> {
  await ociLayout(layout, "bb", [(rootfs) => buildRootfs(rootfs)], {
    entrypoint: ["/bin/sleep"],
    cmd: ["1000"],
    env: ["PATH=/bin"],
    workdir: "/work",
  });
}

/** Pushes DIR with --start; Exec's the image's Echo entry point in the container. */
async function pushAndRun(
  socket: string,
  dir: string,
  imageId: string,
  c: ReturnType<
    Awaited<ReturnType<typeof startDaemon>>["client"]
  >,
) {
  const out = await ok(["--socket", socket, "--json", "push", "-q", dir, "--start"]);
  const r = JSON.parse(out);
  assertEquals(r.imageId, imageId);
  assertEquals(r.unresolved, []);
  assert(typeof r.containerId === "number", out);
  const e = await c.exec({
    containerId: r.containerId,
    command: "Echo",
    arguments: ["hello from", dir.split("/").at(-1)!],
    timeout: 10n,
  });
  assertEquals(dec(e.stdout), `hello from ${dir.split("/").at(-1)}\n`);
  const info = (await c.inspect({ containerId: r.containerId })).info[0];
  assertEquals(info.running, true);
  return r.containerId as number;
}

Deno.test("OCI layout (umoci) and docker-archive (skopeo) → generate → sign → push → the container runs", async () => {
  const w = await tmp();
  const d = await startDaemon();
  try {
    await ok(["keygen", "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]);
    await busyboxLayout(`${w}/oci`);
    await dockerArchive(`${w}/oci`, "bb", `${w}/bb.tar`, "busybox:1");

    // From the OCI layout.
    const gen = JSON.parse(
      await ok(["--json", "generate", "--out", `${w}/img`, `oci:${w}/oci:bb`, "--signal", "TERM"]),
    );
    const m = JSON.parse(await Deno.readTextFile(`${w}/img/manifest.json`));
    assertEquals(m.entrypoint, ["/bin/sleep", "1000"]); // Entrypoint + Cmd
    assertEquals(m.env, ["PATH=/bin"]);
    assertEquals(m.workingDir, "/work");
    assertEquals(m.signals, [15]);
    assertEquals(m.maxInstances, 1);
    assertEquals(m.layers.length, 1);
    // The layer is the plain tar umoci compressed, named by its sha384.
    const layer = await Deno.readFile(`${w}/img/layers/${m.layers[0]}.tar`);
    assertEquals(`sha384/${await sha384hex(layer)}`, m.layers[0]);
    // origin.json links the image to the OCI manifest it came from.
    const index = JSON.parse(await Deno.readTextFile(`${w}/oci/index.json`));
    const origin = JSON.parse(await Deno.readTextFile(`${w}/img/origin.json`));
    assertEquals(origin.manifestDigest, index.manifests[0].digest);
    assertEquals(origin.layers[0].acon, m.layers[0]);
    assertEquals(gen.origin.manifestDigest, origin.manifestDigest);

    const id = (await ok(["sign", `${w}/img`, "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]))
      .trim();
    // Canonical exactly as jq writes it, and the id as openssl computes it.
    const text = await Deno.readTextFile(`${w}/img/manifest.json`);
    const jq = await new Deno.Command("jq", { args: ["-jcS", ".", `${w}/img/manifest.json`] })
      .output();
    assertEquals(text, dec(jq.stdout));
    const cert = await Deno.readFile(`${w}/img/signer.cer`);
    assertEquals(
      id,
      `sha384/${await opensslHex("sha384", cert)}/${await opensslHex("sha384", text)}`,
    );
    assertEquals((await ok(["image-id", `${w}/img`])).trim(), id);
    assertEquals(
      (await ok(["image-id", `${w}/img/manifest.json`, `${w}/img/signer.cer`])).trim(),
      id,
    );
    assertMatch(await ok(["manifest", "validate", `${w}/img`]), /: valid\n$/);
    await pushAndRun(d.socket, `${w}/img`, id, d.client());

    // From the docker-archive: the same layers and manifest, so the same image.
    await ok(["generate", "--out", `${w}/img2`, `docker-archive:${w}/bb.tar`, "--signal", "TERM"]);
    assertEquals(await Deno.readTextFile(`${w}/img2/manifest.json`), text);
    const origin2 = JSON.parse(await Deno.readTextFile(`${w}/img2/origin.json`));
    assertEquals(origin2.repoTags, ["docker.io/library/busybox:1"]);
    assertEquals(origin2.configDigest, origin.configDigest);
    // A different image of it (another alias) so that it is pushed and started anew.
    await ok([
      "generate",
      "--force",
      "--out",
      `${w}/img2`,
      `docker-archive:${w}/bb.tar:busybox:1`,
      "--signal",
      "TERM",
      "--alias",
      "Busybox:1",
    ]);
    const id2 = (await ok(["sign", `${w}/img2`, "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]))
      .trim();
    assert(id2 !== id);
    await pushAndRun(d.socket, `${w}/img2`, id2, d.client());

    // Reformatted after signing: push says what is wrong and what to do.
    await Deno.mkdir(`${w}/pretty`);
    for (const f of ["signature", "signer.cer"]) {
      await Deno.copyFile(`${w}/img/${f}`, `${w}/pretty/${f}`);
    }
    await Deno.writeTextFile(
      `${w}/pretty/manifest.json`,
      JSON.stringify(JSON.parse(text), null, 2),
    );
    const bad = await aconctl(["--socket", d.socket, "push", `${w}/pretty`]);
    assertEquals(bad.code, 1);
    assertMatch(
      bad.stderr,
      /^aconctl push: manifest is not in canonical form; sign it with aconctl sign \(/,
    );
    const badv = await aconctl(["manifest", "validate", `${w}/pretty`]);
    assertEquals(badv.code, 1);
    assertMatch(badv.stdout, /not in canonical form/);
  } finally {
    await d.stop();
    await Deno.remove(w, { recursive: true }).catch(() => {});
  }
});

/**
 * An aconcli repository (behaviour file §10.3): the layer in blobs/sha384 (+ the sha256 link),
 * the user's manifest outside .acon (4-space indented, as aconcli writes it), one bundle named by
 * the digest of Go's JSON form (jq's, with & < > escaped as Go does), signed by openssl.
 */
async function aconcliRepo(repo: string, tar: Uint8Array, layerRef: string) {
  const signer = await makeSigner("ec-p384");
  const acon = `${repo}/.acon`;
  const hex = layerRef.split("/")[1];
  await Deno.mkdir(`${acon}/blobs/sha384`, { recursive: true, mode: 0o750 });
  await Deno.mkdir(`${acon}/blobs/sha256`, { recursive: true });
  await Deno.writeFile(`${acon}/blobs/sha384/${hex}.tar`, tar, { mode: 0o600 });
  const h256 = await opensslHex("sha256", tar);
  await Deno.symlink(`../sha384/${hex}.tar`, `${acon}/blobs/sha256/${h256}.tar`);
  const manifest = {
    aconSpecVersion: [1, 0],
    layers: [layerRef],
    aliases: {},
    entrypoint: ["/bin/sleep", "1000"],
    env: ["PATH=/bin", "URL=http://x/?a=1&b=2"],
    workingDir: "/",
    uids: [],
    logFDs: [],
    writableFS: false,
    noRestart: false,
    signals: [15],
    maxInstances: 1,
    policy: { accepts: [], rejectUnaccepted: false },
  };
  await Deno.writeTextFile(`${repo}/app.json`, JSON.stringify(manifest, null, 4), { mode: 0o600 });
  const jq = await new Deno.Command("jq", { args: ["-jcS", ".", `${repo}/app.json`] }).output();
  const goForm = dec(jq.stdout).replaceAll("&", "\\u0026");
  const digest = await opensslHex("sha384", goForm);
  const bundle = `${acon}/manifests/sha384/${digest}`;
  await Deno.mkdir(bundle, { recursive: true });
  await Deno.writeFile(`${repo}/signer.cer`, signer.certificate);
  await Deno.symlink("../../../../app.json", `${bundle}/acon.json`);
  await Deno.symlink("../../../../signer.cer", `${bundle}/signer.cer`);
  await Deno.symlink(signer.keyPath, `${bundle}/private_key.pem`);
  await Deno.writeFile(`${bundle}/signature`, await signer.sign(goForm), { mode: 0o600 });
  return `sha384/${await opensslHex("sha384", signer.certificate)}/${digest}`;
}

Deno.test("import-aconcli: an aconcli repository is verified, imported and pushed; a stale one is refused", async () => {
  const w = await tmp();
  const d = await startDaemon();
  try {
    const rootfs = `${w}/rootfs`;
    await buildRootfs(rootfs);
    const tar = await tarOf(rootfs);
    const layer = `sha384/${await sha384hex(tar)}`;
    const expected = await aconcliRepo(`${w}/repo`, tar, layer);

    assertMatch(await ok(["import-aconcli", "--verify-only", `${w}/repo`]), /^verified /);
    const out = await ok(["--socket", d.socket, "import-aconcli", "-q", `${w}/repo`]);
    assertEquals(out.trim(), expected);
    const c = d.client();
    const { containerId } = await c.start({ imageId: expected, envs: [] });
    // The manifest's env (with its "&") is the container init's.
    const e = await c.exec({
      containerId,
      command: "Sh",
      arguments: ["tr '\\0' '\\n' < /proc/1/environ"],
      envs: ["PATH=/bin"],
      timeout: 10n,
    });
    assertMatch(dec(e.stdout), /^URL=http:\/\/x\/\?a=1&b=2$/m);

    // The manifest edited after signing: nothing is pushed.
    const m = JSON.parse(await Deno.readTextFile(`${w}/repo/app.json`));
    m.env.push("EVIL=1");
    await Deno.writeTextFile(`${w}/repo/app.json`, JSON.stringify(m, null, 4));
    const stale = await aconctl(["--socket", d.socket, "import-aconcli", `${w}/repo`]);
    assertEquals(stale.code, 1);
    assertMatch(stale.stderr, /1 of 1 bundles are not intact \(nothing pushed\)/);
    assertMatch(stale.stderr, /stale: acon\.json changed since it was signed/);
    const none = await aconctl(["import-aconcli", w]);
    assertMatch(none.stderr, /is not an aconcli repository/);
  } finally {
    await d.stop();
    await Deno.remove(w, { recursive: true }).catch(() => {});
  }
});

Deno.test("keygen never overwrites; every kind makes a certificate acond's rules accept", async () => {
  const w = await tmp();
  try {
    for (const kind of [[], ["--rsa", "--bits", "2048"], ["--ed25519"]]) {
      const n = kind.join("");
      const j = JSON.parse(
        await ok(["--json", "keygen", "--key", `${w}/k${n}`, "--cert", `${w}/c${n}`, ...kind]),
      );
      assertMatch(j.signerId, kind[0] === "--ed25519" ? /^sha512\// : /^sha384\//);
      assertEquals((await Deno.stat(`${w}/k${n}`)).mode! & 0o777, 0o600);
    }
    const key = await Deno.readFile(`${w}/k`);
    const cert = await Deno.readFile(`${w}/c`);
    for (
      const args of [
        ["--key", `${w}/k`, "--cert", `${w}/new.der`],
        ["--key", `${w}/new.pem`, "--cert", `${w}/c`],
      ]
    ) {
      const r = await aconctl(["keygen", ...args]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /exists; keygen never overwrites/);
    }
    assertEquals(await Deno.readFile(`${w}/k`), key);
    assertEquals(await Deno.readFile(`${w}/c`), cert);
    for (const f of ["new.der", "new.pem"]) {
      assertEquals(await Deno.lstat(`${w}/${f}`).then(() => true, () => false), false, f);
    }
  } finally {
    await Deno.remove(w, { recursive: true });
  }
});

Deno.test("manifest validate lists every problem at once; generate and sign refuse with all of them", async () => {
  const w = await tmp();
  try {
    const m = {
      aconSpecVersion: [1, 0],
      layers: ["sha384/nothex"],
      aliases: { self: { ".": ["a/b"] } },
      entrypoint: ["/bin/sh"],
      env: ["A=1", "A=1"],
      uids: [0],
      signals: [15, 15],
      policy: {},
      _vendor: 1,
    };
    await Deno.mkdir(`${w}/img`);
    await Deno.writeTextFile(`${w}/img/manifest.json`, JSON.stringify(m));
    const r = await aconctl(["manifest", "validate", `${w}/img/manifest.json`]);
    assertEquals(r.code, 1, r.stderr);
    const want = [
      'lacks the required field "workingDir"',
      'layers[0] "sha384/nothex": digest must be 96',
      "aliases.self..[0] (alias name) contains '/'",
      "uids[0] must be between 1 and 4294967294, not 0",
      "signals[1] duplicates 15",
      'env[1] "A=1" repeats an earlier rule',
    ];
    assertMatch(r.stdout, /: 6 problems\n/);
    for (const p of want) assert(r.stdout.includes(p), `${p}\n${r.stdout}`);
    const j = JSON.parse((await aconctl(["--json", "manifest", "validate", `${w}/img`])).stdout);
    assertEquals(j.valid, false);
    assertEquals(j.problems.length, 6);

    await ok(["keygen", "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]);
    const s = await aconctl(["sign", `${w}/img`, "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]);
    assertEquals(s.code, 1);
    assertMatch(s.stderr, /has 6 problems:\n/);
    assertEquals(await Deno.lstat(`${w}/img/signature`).then(() => true, () => false), false);

    // A root directory has no config: generate says which flag is missing, before any layer.
    await Deno.mkdir(`${w}/root/bin`, { recursive: true });
    const g = await aconctl(["generate", "--out", `${w}/g`, `${w}/root`]);
    assertEquals(g.code, 1);
    assertMatch(g.stderr, /give --entrypoint/);
    assertMatch(g.stderr, /entrypoint must not be empty/);
    assertEquals(await Deno.lstat(`${w}/g`).then(() => true, () => false), false);
    await ok(["generate", "--out", `${w}/g`, `${w}/root`, "--entrypoint", "/bin/app"]);
    assertEquals(JSON.parse(await Deno.readTextFile(`${w}/g/manifest.json`)).entrypoint, [
      "/bin/app",
    ]);
  } finally {
    await Deno.remove(w, { recursive: true });
  }
});

Deno.test("--help on every image-side subcommand exits 0 with its usage", async () => {
  for (const cmd of ["keygen", "generate", "sign", "manifest", "image-id", "import-aconcli"]) {
    const r = await aconctl([cmd, "--help"]);
    assertEquals(r.code, 0, cmd);
    assertMatch(r.stdout, new RegExp(`^usage: aconctl ${cmd} `));
  }
  const u = await aconctl(["generate", "--bogus"]);
  assertEquals(u.code, 2);
  assertMatch(u.stderr, /usage: aconctl generate/);
});
