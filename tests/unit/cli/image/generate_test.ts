/** generate's pieces: the manifest mapping (aconcli's defaults), flags, and layer writing. */
import { assertEquals, assertRejects, assertThrows } from "../../../helpers/assert.ts";
import { argvFlag, manifestFor, parseSignal } from "../../../../src/cli/image/generate.ts";
import { writeLayer } from "../../../../src/cli/image/layers.ts";
import { parseOciRef } from "../../../../src/cli/image/oci.ts";
import { indexTar, resolveMember } from "../../../../src/cli/image/docker_archive.ts";
import { UsageError } from "../../../../src/cli/command.ts";

Deno.test("manifestFor: aconcli's defaults; Entrypoint + Cmd; --entrypoint drops Cmd", () => {
  const cfg = { Entrypoint: ["/bin/app"], Cmd: ["--serve"], Env: ["PATH=/bin"], WorkingDir: "" };
  assertEquals(manifestFor(cfg, ["sha384/x"], {}), {
    aconSpecVersion: [1, 0],
    layers: ["sha384/x"],
    aliases: {},
    entrypoint: ["/bin/app", "--serve"],
    env: ["PATH=/bin"],
    workingDir: "/",
    uids: [],
    logFDs: [],
    writableFS: false,
    noRestart: false,
    signals: [],
    maxInstances: 1,
    policy: { accepts: [], rejectUnaccepted: false },
  });
  assertEquals(manifestFor(cfg, [], { entrypoint: ["/bin/sh"] }).entrypoint, ["/bin/sh"]);
  assertEquals(manifestFor(cfg, [], { cmd: ["-x"] }).entrypoint, ["/bin/app", "-x"]);
  assertEquals(manifestFor({ Cmd: ["/bin/sh"] }, [], {}).entrypoint, ["/bin/sh"]);
  const all = manifestFor(cfg, ["sha384/top"], {
    env: ["A=1"],
    noImageEnv: true,
    workdir: "/w",
    uids: [1000],
    logFDs: [1],
    writableFS: true,
    noRestart: true,
    signals: [15, -9],
    maxInstances: 0,
    accepts: ["sha384/*/*"],
    rejectUnaccepted: true,
    aliases: ["App:1"],
    contentAliases: [["sha384/top", "Top:1"], ["sha384/top", "Top:2"]],
    baseLayers: ["signer/sha384/s/Base:1"],
    specVersion: [1, 1],
  });
  assertEquals(all, {
    aconSpecVersion: [1, 1],
    layers: ["signer/sha384/s/Base:1", "sha384/top"],
    aliases: { contents: { "sha384/top": ["Top:1", "Top:2"] }, self: { ".": ["App:1"] } },
    entrypoint: ["/bin/app", "--serve"],
    env: ["A=1"],
    workingDir: "/w",
    uids: [1000],
    logFDs: [1],
    writableFS: true,
    noRestart: true,
    signals: [15, -9],
    maxInstances: 0,
    policy: { accepts: ["sha384/*/*"], rejectUnaccepted: true },
  });
});

Deno.test("flag values: signals by name or number, argv as JSON or one string, oci refs", () => {
  assertEquals(["TERM", "SIGKILL", "-term", "10", "-9"].map(parseSignal), [15, 9, -15, 10, -9]);
  assertThrows(() => parseSignal("FOO"), UsageError);
  assertThrows(() => parseSignal("99"), UsageError);
  assertEquals(argvFlag("entrypoint", "/bin/sh"), ["/bin/sh"]);
  assertEquals(argvFlag("entrypoint", '["/bin/sh","-c","x y"]'), ["/bin/sh", "-c", "x y"]);
  assertThrows(() => argvFlag("cmd", "[1]"), UsageError);
  assertEquals(parseOciRef("oci:./img:latest"), ["./img", "latest"]);
  assertEquals(parseOciRef("oci:/a/b"), ["/a/b", undefined]);
  assertEquals(parseOciRef("oci:/a:b/c"), ["/a:b/c", undefined]);
});

async function sh(cmd: string, cwd: string) {
  const r = await new Deno.Command("sh", { args: ["-c", cmd], cwd }).output();
  if (!r.success) throw new Error(`${cmd}: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test("writeLayer: plain, gzip and zstd tars give the same plain layer; not a tar is refused", async () => {
  const d = await Deno.makeTempDir();
  try {
    await sh(
      "mkdir r && echo hi > r/f && tar -C r -cf l.tar . && gzip -k l.tar && zstd -q l.tar",
      d,
    );
    const out = `${d}/img`;
    const plain = await writeLayer(out, (await Deno.open(`${d}/l.tar`)).readable, "plain");
    const gz = await writeLayer(out, (await Deno.open(`${d}/l.tar.gz`)).readable, "gz");
    const zst = await writeLayer(out, (await Deno.open(`${d}/l.tar.zst`)).readable, "zst");
    assertEquals([gz.ref, zst.ref], [plain.ref, plain.ref]);
    assertEquals([plain.compression, gz.compression, zst.compression], ["none", "gzip", "zstd"]);
    assertEquals(await Deno.readFile(plain.path), await Deno.readFile(`${d}/l.tar`));
    await Deno.writeTextFile(`${d}/junk`, "x".repeat(2000));
    await assertRejects(
      async () => await writeLayer(out, (await Deno.open(`${d}/junk`)).readable, "junk"),
      Error,
      "junk is not a tar archive",
    );
    // Nothing half-written is left behind.
    const names = [...Deno.readDirSync(`${out}/layers/sha384`)].map((e) => e.name);
    assertEquals(names, [`${plain.ref.slice(7)}.tar`]);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("docker-archive index: long names, pax, symlinks to layers", async () => {
  const d = await Deno.makeTempDir();
  try {
    const long = "x".repeat(150);
    await sh(
      `mkdir -p a/${long} && echo data > a/${long}/layer.tar && ln -s ${long}/layer.tar a/link && ` +
        `tar -C a --format=gnu -cf gnu.tar . && tar -C a --format=pax -cf pax.tar .`,
      d,
    );
    for (const t of ["gnu.tar", "pax.tar"]) {
      const idx = await indexTar(`${d}/${t}`);
      const m = resolveMember(idx, "link");
      assertEquals(m.name, `${long}/layer.tar`);
      const f = await Deno.open(`${d}/${t}`);
      await f.seek(m.offset, Deno.SeekMode.Start);
      const b = new Uint8Array(m.size);
      await f.read(b);
      f.close();
      assertEquals(new TextDecoder().decode(b), "data\n");
      assertThrows(() => resolveMember(idx, "nope"), Error, "no file nope");
    }
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});
