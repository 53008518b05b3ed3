/** AddBlob and chunked uploads against a Context-like object (no daemon, no signatures). */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects, assertThrows } from "../../helpers/assert.ts";
import { craftTar } from "../../helpers/tarcraft.ts";
import type { Context } from "../../../src/context.ts";
import type { HashAlg } from "../../../src/digest.ts";
import type { LoadedImage, Manifest } from "../../../src/state.ts";
import { Layout } from "../../../src/layout.ts";
import { Mutex } from "../../../src/util/mutex.ts";
import { AcondError, MSG } from "../../../src/errors.ts";
import { addBlob, algsFromBits, checkReferenced, parseDigest } from "../../../src/image/blob.ts";
import { MAX_CHUNK, MAX_UPLOADS, STALE_MS, Uploads } from "../../../src/image/upload/table.ts";

const hex = (alg: HashAlg, b: Uint8Array) => createHash(alg).update(b).digest("hex");

function image(layers: string[]): LoadedImage {
  return {
    id: `sha384/${"a".repeat(96)}/${"b".repeat(96)}`,
    alg: "sha384",
    signerDigest: "a".repeat(96),
    manifestDigest: "b".repeat(96),
    manifest: { layers } as unknown as Manifest,
    raw: new Uint8Array(),
    certificate: new Uint8Array(),
  };
}

async function withCtx(
  layers: string[],
  fn: (ctx: Context, root: string) => Promise<void>,
  minHash: HashAlg = "sha384",
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "blob-test-" });
  const ctx = {
    opts: { minHash },
    lock: new Mutex(),
    state: { finalized: false, images: new Map([["i", image(layers)]]), containers: new Map() },
    layout: new Layout(root),
  } as unknown as Context;
  try {
    await fn(ctx, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function code(e: unknown): string {
  return e instanceof AcondError ? `${e.code}: ${e.message}` : String(e);
}

const layer = craftTar([{ name: "etc/hello", data: "hi\n" }, { name: "bin/", type: "5" }]);
const L384 = hex("sha384", layer);
const L256 = hex("sha256", layer);
const L512 = hex("sha512", layer);

Deno.test("algsFromBits, parseDigest", () => {
  assertEquals(algsFromBits(0), []);
  assertEquals(algsFromBits(7), ["sha256", "sha384", "sha512"]);
  assertThrows(() => algsFromBits(8), /Invalid hash algorithm/);
  assertEquals(parseDigest(`sha384/${L384}`), { alg: "sha384", hex: L384 });
  for (const bad of [`sha384/${L384.toUpperCase()}`, `sha384/${L256}`, "md5/00", L384]) {
    assertThrows(() => parseDigest(bad), /Invalid digest/);
  }
});

Deno.test("checkReferenced: exact match only; weaker than minHash refused", () => {
  const state = {
    finalized: false,
    images: new Map([["i", image([`sha256/${L256}`, `signer/sha384/x/alias`])]]),
    containers: new Map(),
  };
  assertThrows(
    () => checkReferenced(state, "sha384", [{ alg: "sha384", hex: L384 }]),
    (e) =>
      e instanceof AcondError && e.code === "permission_denied" &&
      e.message === MSG.noReferencingManifest,
  );
  assertThrows(
    () => checkReferenced(state, "sha384", [{ alg: "sha256", hex: L256 }]),
    /weaker than sha384/,
  );
  checkReferenced(state, "sha256", [{ alg: "sha256", hex: L256 }]);
});

Deno.test("addBlob: extracts into contents/sha384/<hex>, links requested algs, no leftovers", async () => {
  await withCtx([`sha384/${L384}`], async (ctx, root) => {
    await addBlob(ctx, 7, layer);
    assertEquals(Deno.readTextFileSync(`${root}/contents/sha384/${L384}/etc/hello`), "hi\n");
    assertEquals(Deno.readLinkSync(`${root}/contents/sha256/${L256}`), `../sha384/${L384}`);
    assertEquals(Deno.readLinkSync(`${root}/contents/sha512/${L512}`), `../sha384/${L384}`);
    assertEquals(Deno.statSync(`${root}/contents/sha384/${L384}`).mode! & 0o777, 0o755);
    assertEquals([...Deno.readDirSync(`${root}/tmp`)], []);
    // A second upload is a no-op success (the layer is not re-extracted).
    Deno.writeTextFileSync(`${root}/contents/sha384/${L384}/marker`, "");
    await addBlob(ctx, 2, layer);
    assert(Deno.statSync(`${root}/contents/sha384/${L384}/marker`).isFile);
  });
});

Deno.test("addBlob: a './' entry sets the layer root's mode", async () => {
  const rooted = craftTar([{ name: "./", type: "5", mode: 0o750 }, { name: "./f", data: "x" }]);
  const h = hex("sha384", rooted);
  await withCtx([`sha384/${h}`], async (ctx, root) => {
    await addBlob(ctx, 2, rooted);
    assertEquals(Deno.statSync(`${root}/contents/sha384/${h}`).mode! & 0o777, 0o750);
  });
});

Deno.test("addBlob: a second upload still creates the newly requested alg link", async () => {
  await withCtx([`sha384/${L384}`, `sha512/${L512}`], async (ctx, root) => {
    await addBlob(ctx, 2, layer);
    await assertRejects(() => Deno.lstat(`${root}/contents/sha512/${L512}`), Deno.errors.NotFound);
    await addBlob(ctx, 4, layer);
    assertEquals(Deno.readLinkSync(`${root}/contents/sha512/${L512}`), `../sha384/${L384}`);
  });
});

Deno.test("addBlob: unreferenced, alg 0, weak-only and hostile blobs change nothing", async () => {
  await withCtx([`sha256/${L256}`], async (ctx, root) => {
    for (const bits of [2, 0]) {
      const e = await addBlob(ctx, bits, layer).catch((e) => e);
      assertEquals(code(e), `permission_denied: ${MSG.noReferencingManifest}`);
    }
    const weak = await addBlob(ctx, 1, layer).catch((e) => e);
    assert(/invalid_argument: Invalid hash algorithm/.test(code(weak)), code(weak));
    assertEquals([...Deno.readDirSync(root)], []);
  });
  const evil = craftTar([{ name: "ok", data: "x" }, { name: "../evil", data: "x" }]);
  await withCtx([`sha384/${hex("sha384", evil)}`], async (ctx, root) => {
    const e = await addBlob(ctx, 2, evil).catch((e) => e);
    assert(/invalid_argument: Invalid layer archive: path contains '\.\.'/.test(code(e)), code(e));
    assertEquals([...Deno.readDirSync(`${root}/tmp`)], []);
    await assertRejects(() => Deno.lstat(`${root}/contents`), Deno.errors.NotFound);
  });
});

Deno.test("uploads: chunks, idempotent retry, wrong offset, status, commit", async () => {
  await withCtx([`sha384/${L384}`], async (ctx, root) => {
    const up = new Uploads(ctx);
    const { uploadId } = up.begin(`sha384/${L384}`, BigInt(layer.length));
    const a = layer.subarray(0, 1000);
    assertEquals((await up.write(uploadId, 0n, a)).received, 1000n);
    assertEquals((await up.write(uploadId, 0n, a)).received, 1000n); // retry: no-op
    const wrong = await up.write(uploadId, 500n, layer.subarray(500, 1500)).then(
      () => "accepted",
      code,
    );
    assertEquals(wrong, "invalid_argument: Wrong offset 500: expected offset 1000");
    assertEquals(up.status(uploadId).received, 1000n);
    await assertRejects(() => up.commit(uploadId, 2), /Upload incomplete: 1000 of/);
    await up.write(uploadId, 1000n, layer.subarray(1000));
    await up.commit(uploadId, 0);
    assertEquals(Deno.readTextFileSync(`${root}/contents/sha384/${L384}/etc/hello`), "hi\n");
    assertEquals([...Deno.readDirSync(`${root}/uploads`)], []);
    assertThrows(() => up.status(uploadId), /Unknown or expired upload id/);
  });
});

Deno.test("uploads: wrong digest discarded, unreferenced refused, limits enforced", async () => {
  const other = craftTar([{ name: "x", data: "other" }]);
  await withCtx([`sha384/${L384}`], async (ctx, root) => {
    const up = new Uploads(ctx);
    assertThrows(() => up.begin(`sha384/${hex("sha384", other)}`, 0n), /No referencing manifest/);
    const { uploadId } = up.begin(`sha384/${L384}`, 0n);
    await up.write(uploadId, 0n, other);
    await assertRejects(() => up.commit(uploadId, 2), /Digest mismatch: expected sha384\//);
    assertEquals(up.count, 0);
    assertEquals([...Deno.readDirSync(`${root}/uploads`)], []);
    assertEquals([...Deno.readDirSync(`${root}/tmp`)], []);
    await assertRejects(() => Deno.lstat(`${root}/contents`), Deno.errors.NotFound);
    const id2 = up.begin(`sha384/${L384}`, 0n).uploadId;
    await assertRejects(() => up.write(id2, 0n, new Uint8Array(MAX_CHUNK + 1)), /Chunk too large/);
    for (let i = 1; i < MAX_UPLOADS; i++) up.begin(`sha384/${L384}`, 0n);
    assertThrows(() => up.begin(`sha384/${L384}`, 0n), /Too many uploads/);
  });
});

Deno.test("uploads: a hostile archive fails the upload early, never stalls WriteBlob", async () => {
  // More than MAX_QUEUED behind a refused first entry: once the extraction stops consuming, a
  // WriteBlob waiting for room must be released with the error (or the commit reports it).
  const head = craftTar([{ name: "../evil", data: "x" }], false);
  const blob = new Uint8Array(5 * MAX_CHUNK);
  blob.set(head);
  await withCtx([`sha384/${hex("sha384", blob)}`], async (ctx, root) => {
    const up = new Uploads(ctx);
    const { uploadId } = up.begin(`sha384/${hex("sha384", blob)}`, BigInt(blob.length));
    let err = "";
    for (let off = 0; off < blob.length && !err; off += MAX_CHUNK) {
      await up.write(uploadId, BigInt(off), blob.subarray(off, off + MAX_CHUNK)).catch((e) => {
        err = code(e);
      });
    }
    if (!err) await up.commit(uploadId, 2).catch((e) => (err = code(e)));
    assertEquals(
      err,
      `invalid_argument: Invalid layer archive: path contains '..' (entry "../evil")`,
    );
    assertEquals(up.count, 0);
    assertEquals([...Deno.readDirSync(`${root}/uploads`)], []);
    assertEquals([...Deno.readDirSync(`${root}/tmp`)], []);
  });
});

Deno.test("uploads: a second call during an in-flight write is refused; status still answers", async () => {
  await withCtx([`sha384/${L384}`], async (ctx) => {
    const up = new Uploads(ctx);
    const { uploadId } = up.begin(`sha384/${L384}`, BigInt(layer.length));
    const first = up.write(uploadId, 0n, layer.subarray(0, 1024));
    const second = await up.write(uploadId, 1024n, layer.subarray(1024)).catch(code);
    assertEquals(second, "failed_precondition: Upload busy (a call is in progress)");
    assertEquals(up.status(uploadId).received, 1024n);
    assertEquals((await first).received, 1024n);
    await up.write(uploadId, 1024n, layer.subarray(1024));
    await up.commit(uploadId, 2);
  });
});

Deno.test("uploads: idle uploads expire", async () => {
  await withCtx([`sha384/${L384}`], async (ctx, root) => {
    let now = 1_000_000;
    const up = new Uploads(ctx, () => now);
    const { uploadId } = up.begin(`sha384/${L384}`, 0n);
    now += STALE_MS + 1;
    assertThrows(() => up.status(uploadId), /Unknown or expired/);
    assertEquals([...Deno.readDirSync(`${root}/uploads`)], []);
    // The aborted extraction cleans its staging directory up.
    await new Promise((r) => setTimeout(r, 20));
    assertEquals([...Deno.readDirSync(`${root}/tmp`)], []);
  });
});

Deno.test("addBlob: a full state file system is resource_exhausted and leaves nothing", async () => {
  const big = craftTar([{ name: "big", data: new Uint8Array(3 << 20).fill(7) }]);
  const h = hex("sha384", big);
  await withCtx([`sha384/${h}`], async (ctx, root) => {
    const mnt = new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", root],
    });
    assert((await mnt.output()).success, "mount tmpfs");
    try {
      const e = await addBlob(ctx, 2, big).catch(code);
      assertEquals(e, "resource_exhausted: No space left for the layer in the state directory");
      assertEquals([...Deno.readDirSync(`${root}/tmp`)], []);
      await assertRejects(() => Deno.lstat(`${root}/contents`), Deno.errors.NotFound);
    } finally {
      await new Deno.Command("umount", { args: [root] }).output();
    }
  });
});

Deno.test("uploads: BeginBlob's alg names the links; CommitBlob may not ask for more", async () => {
  await withCtx([`sha384/${L384}`], async (ctx, root) => {
    const up = new Uploads(ctx);
    assertThrows(() => up.begin(`sha384/${L384}`, 0n, 8), /Invalid hash algorithm/);
    // Digests named at BeginBlob are computed while streaming; commit with 0 links them all.
    const id = up.begin(`sha384/${L384}`, BigInt(layer.length), 1 | 4).uploadId;
    await up.write(id, 0n, layer);
    await up.commit(id, 0);
    assertEquals(Deno.readLinkSync(`${root}/contents/sha256/${L256}`), `../sha384/${L384}`);
    assertEquals(Deno.readLinkSync(`${root}/contents/sha512/${L512}`), `../sha384/${L384}`);
  });
  await withCtx([`sha384/${L384}`], async (ctx, root) => {
    const up = new Uploads(ctx);
    const id = up.begin(`sha384/${L384}`, BigInt(layer.length)).uploadId;
    await up.write(id, 0n, layer);
    // sha512 was not computed (nothing keeps the bytes to compute it later): refused, and the
    // upload is still there to be committed correctly.
    await assertRejects(() => up.commit(id, 4), /asks for sha512, not computed for this upload/);
    assertEquals(up.status(id).received, BigInt(layer.length));
    await up.commit(id, 2);
    assertEquals(Deno.readTextFileSync(`${root}/contents/sha384/${L384}/etc/hello`), "hi\n");
    await assertRejects(() => Deno.lstat(`${root}/contents/sha512`), Deno.errors.NotFound);
  });
});

Deno.test("addBlob: over --max-request is refused by acond itself, before hashing", async () => {
  await withCtx([`sha384/${L384}`], async (ctx, root) => {
    (ctx.opts as { maxRequestBytes: number }).maxRequestBytes = layer.length - 1;
    const e = await addBlob(ctx, 2, layer).then(() => "ok", code);
    assertEquals(
      e,
      `resource_exhausted: Blob of ${layer.length} bytes exceeds --max-request (${
        layer.length - 1
      } bytes): use the chunked upload`,
    );
    await assertRejects(() => Deno.lstat(`${root}/contents`), Deno.errors.NotFound);
    (ctx.opts as { maxRequestBytes: number }).maxRequestBytes = layer.length;
    await addBlob(ctx, 2, layer);
  });
});
