/**
 * The fast ingest path: batched file writes (ffi/layer.c via src/sys/layerfiles.ts), hashing on a
 * worker thread (src/image/upload/hasher.ts), and extraction semantics that depend on writes still being
 * in flight (an entry replacing or hard-linking a file of the batch not yet written).
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects, assertThrows } from "../../helpers/assert.ts";
import { craftTar } from "../../helpers/tarcraft.ts";
import { FileBatch } from "../../../src/sys/layerfiles.ts";
import { SysError } from "../../../src/sys/errors.ts";
import { NativeHasher, WorkerHasher } from "../../../src/image/upload/hasher.ts";
import { extractTar } from "../../../src/image/tar/extract.ts";
import { MemoryReader, StreamReader } from "../../../src/image/tar/reader.ts";

const enc = new TextEncoder();

async function withDir(fn: (dir: string, top: string) => Promise<void>): Promise<void> {
  const top = await Deno.makeTempDir({ prefix: "layer-write-test-" });
  await Deno.mkdir(`${top}/d`);
  try {
    await fn(`${top}/d`, top);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
}

Deno.test("FileBatch: contents, exact modes whatever the umask, mtimes; data copied at add()", async () => {
  await withDir(async (dir) => {
    Deno.mkdirSync(`${dir}/sub`);
    const reused = enc.encode("first");
    const b = new FileBatch();
    b.add("a", reused, 0o644, false, 1_600_000_000);
    b.add("sub/x", enc.encode(""), 0o777, true, 0);
    b.add("big", new Uint8Array(3 << 20).fill(7), 0o600, false, 1_700_000_001);
    assertEquals([b.count, b.bytes], [3, 5 + (3 << 20)]);
    reused.set(enc.encode("XXXXX")); // add() took its own copy
    const written = b.write(dir);
    await written;
    // atime first: reading the file may update it (relatime).
    assertEquals(Deno.statSync(`${dir}/a`).atime!.getTime(), 1_600_000_000_000);
    assertEquals(Deno.readTextFileSync(`${dir}/a`), "first");
    assertEquals(Deno.statSync(`${dir}/a`).mode! & 0o7777, 0o644);
    assertEquals(Deno.statSync(`${dir}/sub/x`).mode! & 0o7777, 0o777);
    assertEquals(Deno.statSync(`${dir}/sub/x`).size, 0);
    assertEquals(Deno.statSync(`${dir}/a`).mtime!.getTime(), 1_600_000_000_000);
    assertEquals(Deno.statSync(`${dir}/big`).mtime!.getTime(), 1_700_000_001_000);
    assertEquals(Deno.readFileSync(`${dir}/big`), new Uint8Array(3 << 20).fill(7));
    // reset() empties the batch (its buffer is reused); a batch in write() takes nothing.
    b.reset();
    assertEquals([b.count, b.bytes], [0, 0]);
    b.add("again", enc.encode("second"), 0o644, false, 0);
    b.add("héllo/../ünï", enc.encode("x"), 0o644, false, 0); // multi-byte: refused as a path with ..
    b.reset();
    b.add("again", enc.encode("second"), 0o644, false, 0);
    b.add("ünï", enc.encode("multi-byte name"), 0o644, false, 0);
    const p = b.write(dir);
    assertThrows(() => b.add("late", enc.encode("x"), 0o644, false, 0), /during write/);
    assertThrows(() => b.reset(), /during write/);
    await p;
    assertEquals(Deno.readTextFileSync(`${dir}/again`), "second");
    assertEquals(Deno.readTextFileSync(`${dir}/ünï`), "multi-byte name");
    assertThrows(() => Deno.lstatSync(`${dir}/late`), Deno.errors.NotFound);
  });
});

Deno.test("FileBatch: never leaves the directory, never follows or replaces anything", async () => {
  await withDir(async (dir, top) => {
    Deno.symlinkSync(top, `${dir}/up`); // a symlink to outside
    Deno.symlinkSync(`${top}/victim`, `${dir}/dangling`); // a dangling one: O_CREAT would follow
    Deno.writeTextFileSync(`${dir}/exists`, "keep");
    const cases: [string, string][] = [
      ["/etc/evil", "EINVAL"], // absolute
      ["../evil", "EXDEV"], // escapes the directory
      ["up/evil", "ELOOP"], // through a symlink
      ["dangling", "EEXIST"], // a symlink as the last component
      ["exists", "EEXIST"], // an existing file is never reused
      ["a\0b", "EINVAL"], // NUL inside
      ["", "EINVAL"], // empty
      ["nodir/f", "ENOENT"], // parents are never created here
    ];
    for (const [path, code] of cases) {
      const b = new FileBatch();
      b.add("ok-before", enc.encode("1"), 0o644, false, 0);
      b.add(path, enc.encode("pwned"), 0o644, false, 0);
      b.add("never", enc.encode("2"), 0o644, false, 0);
      const e = await b.write(dir).then(() => null, (e) => e);
      assert(e instanceof SysError, `${JSON.stringify(path)}: refused`);
      assertEquals([path, e.errnoName], [path, code]);
      assert(e.message.includes(`${dir}/${path}`), `the error names the file: ${e.message}`);
      assertEquals(Deno.readTextFileSync(`${dir}/ok-before`), "1"); // written in order
      assertThrows(() => Deno.lstatSync(`${dir}/never`), Deno.errors.NotFound); // stopped there
      Deno.removeSync(`${dir}/ok-before`);
    }
    assertThrows(() => Deno.lstatSync(`${top}/evil`), Deno.errors.NotFound);
    assertThrows(() => Deno.lstatSync(`${top}/victim`), Deno.errors.NotFound);
    assertEquals(Deno.readTextFileSync(`${dir}/exists`), "keep");
    // A mode beyond the permission bits is refused too (setuid never reaches the disk).
    const b = new FileBatch();
    b.add("suid", enc.encode("x"), 0o4755, false, 0);
    assertEquals(((await b.write(dir).catch((e) => e)) as SysError).errnoName, "EINVAL");
    assertThrows(() => Deno.lstatSync(`${dir}/suid`), Deno.errors.NotFound);
  });
});

for (const Hasher of [NativeHasher, WorkerHasher]) {
  Deno.test(`${Hasher.name}: every algorithm, any chunking; backlog drains; ends cleanly`, async () => {
    const data = new Uint8Array(9 << 20).map((_, i) => (i * 131) & 0xff);
    const h = new Hasher(["sha256", "sha384", "sha512"]);
    for (let off = 0, i = 0; off < data.length; i++) {
      const n = [1, 4096, 1 << 20, 3 << 20, 777][i % 5];
      h.update(data.subarray(off, off + n));
      off += n;
      await h.waitForBacklog(2 << 20);
      assert(h.backlog <= 2 << 20, "backlog bounded");
    }
    const d = await h.digest();
    for (const alg of ["sha256", "sha384", "sha512"] as const) {
      assertEquals(d.get(alg), createHash(alg).update(data).digest("hex"));
    }
    assertThrows(() => h.update(data), /already finished/);
    // Nothing hashed at all, and an aborted hasher.
    assertEquals(
      (await new Hasher(["sha384"]).digest()).get("sha384"),
      createHash("sha384").digest("hex"),
    );
    const a = new Hasher(["sha384"]);
    a.update(data);
    a.abort();
    await a.waitForBacklog(0); // released, not stuck
    await assertRejects(() => a.digest(), /already finished/);
  });
}

Deno.test("extract: entries replacing or hard-linking files whose batched write is pending", async () => {
  await withDir(async (dir) => {
    const filler = Array.from({ length: 40 }, (_, i) => ({ name: `fill/${i}`, data: `${i}` }));
    const tar = craftTar([
      { name: "a", data: "old a" },
      { name: "b", data: "old b" },
      { name: "c", data: "old c" },
      { name: "d", data: "old d" },
      ...filler,
      { name: "a", data: "new a", mode: 0o600 }, // file over a pending file
      { name: "b", type: "2", linkname: "/etc/passwd" }, // symlink over a pending file
      { name: "h", type: "1", linkname: "c" }, // hard link to a pending file
      { name: "d/", type: "5", mode: 0o700 }, // directory over a pending file
      { name: "d/in", data: "inside" },
    ]);
    const s = new StreamReader([]);
    const done = extractTar(s, dir);
    for (let off = 0; off < tar.length; off += 700) s.push(tar.slice(off, off + 700));
    s.end();
    await done;
    assertEquals(Deno.readTextFileSync(`${dir}/a`), "new a");
    assertEquals(Deno.statSync(`${dir}/a`).mode! & 0o777, 0o600);
    assertEquals(Deno.readLinkSync(`${dir}/b`), "/etc/passwd");
    assertEquals(Deno.readTextFileSync(`${dir}/h`), "old c");
    assertEquals(Deno.statSync(`${dir}/h`).ino, Deno.statSync(`${dir}/c`).ino);
    assert(Deno.statSync(`${dir}/d`).isDirectory);
    assertEquals(Deno.readTextFileSync(`${dir}/d/in`), "inside");
    assertEquals(Deno.readTextFileSync(`${dir}/fill/39`), "39");
  });
});

Deno.test("extract: a failing batched write fails the extraction, after every write settled", async () => {
  await withDir(async (dir) => {
    // The staging directory is always fresh; a file already there stands for any write failure.
    Deno.writeTextFileSync(`${dir}/taken`, "mine");
    const tar = craftTar([{ name: "x", data: "1" }, { name: "taken", data: "theirs" }]);
    const e = await extractTar(new MemoryReader(tar), dir, tar.length).catch((e) => e);
    assert(e instanceof SysError && e.errnoName === "EEXIST", String(e));
    assertEquals(Deno.readTextFileSync(`${dir}/taken`), "mine");
  });
});
