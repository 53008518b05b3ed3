/**
 * AddBlob and the chunked upload RPCs against the real dist/acond --dev. Layers are made with real
 * GNU tar; hostile ones with python3's tarfile (tests/integration/blob_hostile.py) and the byte-level
 * crafter for lies GNU tar and tarfile will not tell (giant size fields).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type AconClient, type DevDaemon, startDaemon, TOP } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { craftTar } from "../helpers/tarcraft.ts";

const HERE = new URL(".", import.meta.url).pathname;
const sha = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest("hex");

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** A layer made by GNU tar from a tree built by `build(dir)`. */
async function gnuTar(
  build: (dir: string) => Promise<void>,
  args: string[] = [],
): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "layer-src-" });
  try {
    await Deno.mkdir(`${dir}/tree`);
    await build(`${dir}/tree`);
    await run("tar", ["-C", `${dir}/tree`, ...args, "-cf", `${dir}/layer.tar`, "."]);
    return await Deno.readFile(`${dir}/layer.tar`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function loadManifest(d: DevDaemon, layers: string[]): Promise<void> {
  const signer = await makeSigner("ec-p384");
  const m = await signedManifest(signer, baseManifest({ layers }));
  await d.client().addManifest({
    manifest: m.manifest,
    signature: m.signature,
    certificate: m.certificate,
  });
}

async function rpcError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

function walk(dir: string): string[] {
  const out: string[] = [];
  const rec = (d: string, rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory) rec(`${d}/${e.name}`, r);
    }
  };
  rec(dir, "");
  return out.sort();
}

/** Chunked upload; returns the final status. */
async function upload(c: AconClient, digest: string, data: Uint8Array, chunk = 64 * 1024) {
  const { uploadId } = await c.beginBlob({ digest, size: BigInt(data.length) });
  for (let off = 0; off < data.length; off += chunk) {
    await c.writeBlob({ uploadId, offset: BigInt(off), data: data.subarray(off, off + chunk) });
  }
  return uploadId;
}

Deno.test("AddBlob: a GNU tar layer is extracted with links, modes, whiteouts; re-add is a no-op", async () => {
  const layer = await gnuTar(async (t) => {
    await Deno.mkdir(`${t}/bin`);
    await Deno.writeTextFile(`${t}/bin/tool`, "#!/bin/sh\necho hi\n");
    await Deno.chmod(`${t}/bin/tool`, 0o4755);
    await Deno.mkdir(`${t}/etc/conf.d`, { recursive: true });
    await Deno.writeTextFile(`${t}/etc/conf.d/.wh..wh..opq`, "");
    await Deno.writeTextFile(`${t}/etc/.wh.motd`, "");
    await Deno.symlink("/bin/tool", `${t}/link`);
    await Deno.link(`${t}/bin/tool`, `${t}/hard`);
    await Deno.writeFile(`${t}/big`, new Uint8Array(3 << 20).map((_, i) => i & 0xff));
  }, ["--owner=1234", "--group=1234"]);
  const h384 = sha("sha384", layer), h256 = sha("sha256", layer), h512 = sha("sha512", layer);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha384/${h384}`]);
    await d.client().addBlob({ alg: 7, data: layer });
    const dir = `${d.root}/contents/sha384/${h384}`;
    assertEquals(Deno.readTextFileSync(`${dir}/bin/tool`), "#!/bin/sh\necho hi\n");
    const st = Deno.statSync(`${dir}/bin/tool`);
    assertEquals([st.mode! & 0o7777, st.uid, st.gid, st.nlink], [0o755, 0, 0, 2]);
    assertEquals(Deno.readLinkSync(`${dir}/link`), "/bin/tool");
    assert(Deno.lstatSync(`${dir}/etc/motd`).isCharDevice);
    assertEquals(Deno.readFileSync(`${dir}/big`).length, 3 << 20);
    assertEquals(Deno.readLinkSync(`${d.root}/contents/sha256/${h256}`), `../sha384/${h384}`);
    assertEquals(Deno.readLinkSync(`${d.root}/contents/sha512/${h512}`), `../sha384/${h384}`);
    assertEquals(walk(`${d.root}/tmp`), []);
    // Second upload of the same layer: success, nothing re-extracted.
    Deno.removeSync(`${dir}/big`);
    await d.client("connect-json").addBlob({ alg: 2, data: layer });
    assertEquals(walk(dir).includes("big"), false);
  } finally {
    await d.stop();
  }
});

Deno.test("AddBlob: unreferenced blobs are refused (no manifest, or another layer's)", async () => {
  const layer = await gnuTar((t) => Deno.writeTextFile(`${t}/f`, "x"));
  const other = await gnuTar((t) => Deno.writeTextFile(`${t}/g`, "y"));
  const d = await startDaemon();
  try {
    let e = await rpcError(d.client().addBlob({ alg: 2, data: layer }));
    assertEquals([e.code, e.rawMessage], [Code.PermissionDenied, "No referencing manifest"]);
    await loadManifest(d, [`sha384/${sha("sha384", other)}`]);
    e = await rpcError(d.client().addBlob({ alg: 7, data: layer }));
    assertEquals([e.code, e.rawMessage], [Code.PermissionDenied, "No referencing manifest"]);
    // The referenced layer, but asked for with alg 0 (no digest to match): refused as in ACON.
    e = await rpcError(d.client().addBlob({ alg: 0, data: other }));
    assertEquals([e.code, e.rawMessage], [Code.PermissionDenied, "No referencing manifest"]);
    e = await rpcError(d.client().addBlob({ alg: 8, data: other }));
    assertEquals([e.code, e.rawMessage], [Code.InvalidArgument, "Invalid hash algorithm"]);
    assertEquals(walk(`${d.root}/contents`), []);
  } finally {
    await d.stop();
  }
});

Deno.test("hostile layers are each refused with a clear error and change nothing", async () => {
  const work = await Deno.makeTempDir({ prefix: "hostile-" });
  const outside = `${work}/outside`;
  await Deno.mkdir(`${work}/corpus`);
  await Deno.mkdir(outside);
  await run("python3", [`${HERE}/blob_hostile.py`, `${work}/corpus`, outside]);
  const corpus = new Map<string, Uint8Array>();
  for (const e of Deno.readDirSync(`${work}/corpus`)) {
    corpus.set(e.name.replace(/\.tar$/, ""), Deno.readFileSync(`${work}/corpus/${e.name}`));
  }
  const good = await gnuTar(async (t) => {
    for (let i = 0; i < 20; i++) await Deno.writeTextFile(`${t}/f${i}`, "y".repeat(i * 100));
  });
  corpus.set("truncated", good.subarray(0, 512 * 5 + 100));
  corpus.set("no-end-marker", good.subarray(0, 512 * 2));
  corpus.set("giant-size", craftTar([{ name: "f", data: "x", sizeField: 0o77777777770 }]));
  corpus.set("bad-checksum", craftTar([{ name: "f", data: "x", badChecksum: true }]));
  const expected: Record<string, RegExp> = {
    "traversal": /path contains '\.\.' \(entry "\.\.\/\.\.\/evil"\)/,
    "absolute": /absolute path/,
    "symlink-escape": /path traverses a symlink \(entry "a\/pwned"\)/,
    "symlink-dotdot-escape": /path traverses a symlink/,
    "hardlink-escape": /path contains '\.\.'/,
    "hardlink-absolute": /absolute path/,
    "hardlink-via-symlink": /hard link target is not a regular file/,
    "device-node": /device nodes are not allowed/,
    "fifo": /fifos are not allowed/,
    "pax-bad-path": /path contains '\.\.' \(entry "a\/\.\.\/\.\.\/evil"\)/,
    "pax-huge-header": /pax header too large/,
    "gnu-longname-absolute": /absolute path/,
    "gnu-longname-huge": /gnuLongName header too large \(80002 bytes\)/,
    "truncated": /truncated archive/,
    "no-end-marker": /truncated archive/,
    "giant-size": /exceeds the remaining/,
    "bad-checksum": /header checksum mismatch/,
  };
  assertEquals([...corpus.keys()].sort(), Object.keys(expected).sort());
  const d = await startDaemon();
  try {
    const digests = [...corpus.values()].map((b) => `sha384/${sha("sha384", b)}`);
    await loadManifest(d, [...digests, `sha384/${sha("sha384", good)}`]);
    const c = d.client();
    let i = 0;
    for (const [name, blob] of corpus) {
      // Alternate the unary and the chunked path: both must refuse the same way.
      const chunked = i++ % 2 === 1;
      const e = await rpcError(
        chunked
          ? upload(c, `sha384/${sha("sha384", blob)}`, blob).then((id) =>
            c.commitBlob({ uploadId: id, alg: 2 })
          )
          : c.addBlob({ alg: 2, data: blob }),
      );
      assertEquals(e.code, Code.InvalidArgument, `${name}: ${e.message}`);
      assert(e.rawMessage.startsWith("Invalid layer archive: "), `${name}: ${e.rawMessage}`);
      assert(expected[name].test(e.rawMessage), `${name}: ${e.rawMessage}`);
      // The daemon answers the next request; nothing leaked anywhere.
      assertEquals((await c.health({})).tee, "sim");
      assertEquals(walk(outside), [], name);
      assertEquals(walk(`${d.root}/contents`), [], `${name}: no half layer`);
      assertEquals(walk(`${d.root}/tmp`), [], `${name}: no staging leftovers`);
      assertEquals(walk(`${d.root}/uploads`), [], `${name}: upload discarded`);
    }
    await rpcError(Deno.lstat("/tmp/acond-test-absolute-evil"));
    // And a valid layer still goes in afterwards.
    await c.addBlob({ alg: 2, data: good });
    assertEquals(walk(`${d.root}/contents/sha384/${sha("sha384", good)}`).length, 20);
  } finally {
    await d.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("chunked upload: resume after disconnect, idempotent retry, wrong offset, commit", async () => {
  const layer = await gnuTar(async (t) => {
    for (let i = 0; i < 50; i++) {
      await Deno.writeFile(`${t}/f${i}`, new Uint8Array(10_000 + i).fill(i));
    }
  });
  const h384 = sha("sha384", layer), h512 = sha("sha512", layer);
  const d = await startDaemon();
  try {
    await loadManifest(d, [`sha512/${h512}`]);
    const c1 = d.client("connect-binary");
    const begun = await c1.beginBlob({ digest: `sha512/${h512}`, size: BigInt(layer.length) });
    const id = begun.uploadId;
    assertEquals(begun.received, 0n);
    const chunk = 100_000;
    await c1.writeBlob({ uploadId: id, offset: 0n, data: layer.subarray(0, chunk) });
    // A retry of the same chunk (the client never saw the answer) is idempotent.
    const again = await c1.writeBlob({ uploadId: id, offset: 0n, data: layer.subarray(0, chunk) });
    assertEquals(again.received, BigInt(chunk));
    // Out of order: refused, naming the expected offset.
    const e = await rpcError(
      c1.writeBlob({ uploadId: id, offset: BigInt(2 * chunk), data: layer.subarray(2 * chunk) }),
    );
    assertEquals(e.code, Code.InvalidArgument);
    assertEquals(e.rawMessage, `Wrong offset ${2 * chunk}: expected offset ${chunk}`);
    // "Disconnect": a brand-new client asks where to continue, over another protocol.
    const c2 = d.client("grpc-web");
    let received = Number((await c2.blobStatus({ uploadId: id })).received);
    assertEquals(received, chunk);
    while (received < layer.length) {
      const st = await c2.writeBlob({
        uploadId: id,
        offset: BigInt(received),
        data: layer.subarray(received, received + chunk),
      });
      received = Number(st.received);
    }
    await c2.commitBlob({ uploadId: id, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h384}`).length, 50);
    assertEquals(Deno.readLinkSync(`${d.root}/contents/sha512/${h512}`), `../sha384/${h384}`);
    assertEquals(walk(`${d.root}/uploads`), []);
    const gone = await rpcError(c2.blobStatus({ uploadId: id }));
    assertEquals(gone.code, Code.NotFound);
  } finally {
    await d.stop();
  }
});

Deno.test("chunked upload: wrong digest discarded, unreferenced refused, over --max-request", async () => {
  const a = await gnuTar((t) => Deno.writeFile(`${t}/a`, new Uint8Array(2 << 20).fill(1)));
  const b = await gnuTar((t) => Deno.writeTextFile(`${t}/b`, "b"));
  const d = await startDaemon({ args: ["--max-request", "1"] });
  try {
    const c = d.client();
    await loadManifest(d, [`sha384/${sha("sha384", a)}`]);
    let e = await rpcError(c.beginBlob({ digest: `sha384/${sha("sha384", b)}`, size: 0n }));
    assertEquals([e.code, e.rawMessage], [Code.PermissionDenied, "No referencing manifest"]);
    e = await rpcError(c.beginBlob({ digest: "sha384/xyz", size: 0n }));
    assertEquals(e.code, Code.InvalidArgument);
    // Named digest of `a`, bytes of `b`: refused at commit, upload gone, nothing placed.
    const id = await upload(c, `sha384/${sha("sha384", a)}`, b);
    e = await rpcError(c.commitBlob({ uploadId: id, alg: 2 }));
    assertEquals(e.code, Code.InvalidArgument);
    assert(e.rawMessage.startsWith(`Digest mismatch: expected sha384/${sha("sha384", a)}`));
    assertEquals((await rpcError(c.blobStatus({ uploadId: id }))).code, Code.NotFound);
    assertEquals(walk(`${d.root}/contents`), []);
    assertEquals(walk(`${d.root}/tmp`), []);
    // A 2 MiB layer is over the unary limit (1 MiB here) but goes through the chunked path.
    e = await rpcError(c.addBlob({ alg: 2, data: a }));
    assertEquals(e.code, Code.ResourceExhausted);
    const id2 = await upload(c, `sha384/${sha("sha384", a)}`, a, 512 * 1024);
    await c.commitBlob({ uploadId: id2, alg: 2 });
    assertEquals(Deno.statSync(`${d.root}/contents/sha384/${sha("sha384", a)}/a`).size, 2 << 20);
  } finally {
    await d.stop();
  }
});

Deno.test("chunked upload: BeginBlob alg links more digests; aconctl push uploads a big layer", async () => {
  const layer = await gnuTar(async (t) => {
    for (let i = 0; i < 300; i++) {
      await Deno.writeFile(`${t}/f${i}`, new Uint8Array(20_000 + i).fill(i & 0xff));
    }
  });
  const h384 = sha("sha384", layer), h256 = sha("sha256", layer), h512 = sha("sha512", layer);
  const d = await startDaemon();
  try {
    const signer = await makeSigner("ec-p384");
    const m = await signedManifest(signer, baseManifest({ layers: [`sha384/${h384}`] }));
    await d.client().addManifest({ ...m });
    const c = d.client("connect-json");
    // Only the algorithms named at BeginBlob are computed while streaming.
    const plain = await upload(c, `sha384/${h384}`, layer, 1 << 20);
    const e = await rpcError(c.commitBlob({ uploadId: plain, alg: 4 }));
    assertEquals(e.code, Code.InvalidArgument);
    assert(e.rawMessage.includes("sha512, not computed"), e.rawMessage);
    assertEquals((await c.blobStatus({ uploadId: plain })).received, BigInt(layer.length));
    const { uploadId } = await c.beginBlob({ digest: `sha384/${h384}`, size: 0n, alg: 1 | 4 });
    for (let off = 0; off < layer.length; off += 1 << 20) {
      await c.writeBlob({
        uploadId,
        offset: BigInt(off),
        data: layer.subarray(off, off + (1 << 20)),
      });
    }
    await c.commitBlob({ uploadId, alg: 0 });
    assertEquals(walk(`${d.root}/contents/sha384/${h384}`).length, 300);
    assertEquals(Deno.readLinkSync(`${d.root}/contents/sha256/${h256}`), `../sha384/${h384}`);
    assertEquals(Deno.readLinkSync(`${d.root}/contents/sha512/${h512}`), `../sha384/${h384}`);
    await c.commitBlob({ uploadId: plain, alg: 0 }); // already there: a no-op success

    // aconctl push: a second image with another layer, uploaded in chunks by aconctl.
    const other = await gnuTar((t) => Deno.writeFile(`${t}/big`, new Uint8Array(9 << 20).fill(3)));
    const o384 = sha("sha384", other);
    const m2 = await signedManifest(signer, baseManifest({ layers: [`sha384/${o384}`] }));
    await Deno.writeTextFile(`${d.dir}/m.json`, m2.manifest);
    await Deno.writeFile(`${d.dir}/m.sig`, m2.signature);
    await Deno.writeFile(`${d.dir}/cert.der`, m2.certificate);
    await Deno.writeFile(`${d.dir}/layer.tar`, other);
    const out = await new Deno.Command(`${TOP}/dist/aconctl`, {
      args: [
        "--socket",
        d.socket,
        "push",
        "-q",
        ...["m.json", "m.sig", "cert.der", "layer.tar"]
          .map((f) => `${d.dir}/${f}`),
      ],
      stdin: "null",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(Deno.statSync(`${d.root}/contents/sha384/${o384}/big`).size, 9 << 20);
  } finally {
    await d.stop();
  }
});
