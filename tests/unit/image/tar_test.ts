import fc from "fast-check";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertThrows } from "../../helpers/assert.ts";
import { craftTar, paxRecords } from "../../helpers/tarcraft.ts";
import {
  classifyWhiteout,
  normalizeEntryPath,
  parseHeader,
  parseNumeric,
  parsePax,
  safeMode,
  TarError,
} from "../../../src/image/tar/format.ts";
import { LayerTree } from "../../../src/image/tar/tree.ts";
import { extractTar } from "../../../src/image/tar/extract.ts";
import { MemoryReader, StreamReader } from "../../../src/image/tar/reader.ts";

const enc = new TextEncoder();

// ---- pure helpers -------------------------------------------------------------------------------

Deno.test("normalizeEntryPath: relative normal form; absolute, '..', NUL, overlong refused", () => {
  assertEquals(normalizeEntryPath("./a//b/./c/"), "a/b/c");
  assertEquals(normalizeEntryPath("./"), "");
  assertEquals(normalizeEntryPath("a..b/..c"), "a..b/..c");
  for (const bad of ["/etc/passwd", "a/../../x", "..", "a/..", "a\0b", "x".repeat(256)]) {
    assertThrows(() => normalizeEntryPath(bad), TarError, bad);
  }
  assertThrows(() => normalizeEntryPath("a/".repeat(2100)), /path too long/);
});

Deno.test("normalizeEntryPath never yields an absolute path or a '..' component (property)", () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom("a", "/", ".", "..", "\0", "b/") }), (s) => {
      let out: string;
      try {
        out = normalizeEntryPath(s);
      } catch (e) {
        return e instanceof TarError;
      }
      return !out.startsWith("/") && !out.split("/").some((p) =>
            p === ".." || p === "." ||
            p === ""
          ) || out === "";
    }),
    { numRuns: 2000 },
  );
});

Deno.test("parseNumeric: octal with padding, GNU base-256, garbage refused", () => {
  assertEquals(parseNumeric(enc.encode("0000644\0"), "mode"), 0o644);
  assertEquals(parseNumeric(enc.encode("   17 \0"), "size"), 15);
  assertEquals(parseNumeric(new Uint8Array(12), "size"), 0);
  const b256 = new Uint8Array(12);
  b256[0] = 0x80;
  b256[7] = 0x02; // 2 << 32 = 8 GiB
  assertEquals(parseNumeric(b256, "size"), 2 * 2 ** 32);
  const huge = new Uint8Array(12).fill(0xff);
  huge[0] = 0xbf; // positive, 2^94-ish
  assertThrows(() => parseNumeric(huge, "size"), /out of range/);
  assertThrows(() => parseNumeric(enc.encode("12a4"), "size"), /bad octal size/);
});

Deno.test("parseHeader: checksum verified, ustar prefix joined", () => {
  const t = craftTar([{ name: "f", data: "x" }]);
  const h = parseHeader(t.subarray(0, 512));
  assertEquals([h.name, h.kind, h.size, h.mode], ["f", "file", 1, 0o644]);
  const bad = craftTar([{ name: "f", badChecksum: true }]);
  assertThrows(() => parseHeader(bad.subarray(0, 512)), /checksum mismatch/);
  const pre = t.slice(0, 512);
  pre.set(enc.encode("some/prefix"), 345);
  pre.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of pre) sum += x;
  pre.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  assertEquals(parseHeader(pre).name, "some/prefix/f");
});

Deno.test("parsePax: records parsed; bad lengths refused", () => {
  const m = parsePax(paxRecords({ path: "a/b", linkpath: "ü=x" }));
  assertEquals(m.get("path"), "a/b");
  assertEquals(m.get("linkpath"), "ü=x");
  assertThrows(() => parsePax(enc.encode("99 path=x\n")), /malformed pax record/);
  assertThrows(() => parsePax(enc.encode("x path=x\n")), /malformed pax record length/);
  assertThrows(() => parsePax(enc.encode("9 pathx\n")), /malformed pax record/);
});

Deno.test("classifyWhiteout and safeMode", () => {
  assertEquals(classifyWhiteout("a/b"), { kind: "none" });
  assertEquals(classifyWhiteout("a/.wh.b"), { kind: "whiteout", target: "a/b" });
  assertEquals(classifyWhiteout(".wh.b"), { kind: "whiteout", target: "b" });
  assertEquals(classifyWhiteout("a/.wh..wh..opq"), { kind: "opaque", dir: "a" });
  assertThrows(() => classifyWhiteout("a/.wh..wh.plnk"), /aufs/);
  assertThrows(() => classifyWhiteout("a/.wh."), /bad whiteout/);
  assertEquals(safeMode(0o4755), 0o755);
  assertEquals(safeMode(0o2775), 0o775);
  assertEquals(safeMode(0o1777), 0o777);
});

Deno.test("LayerTree: symlink traversal, file parents, dir replacement and hard link targets", () => {
  const t = new LayerTree();
  const pl = t.place("a/b/c", "file");
  assertEquals(pl.mkdirs, ["a", "a/b"]);
  t.record(pl, "a/b/c", "file");
  t.record(t.place("s", "symlink"), "s", "symlink");
  assertThrows(() => t.place("s/passwd", "file"), /traverses a symlink/);
  assertThrows(() => t.place("a/b/c/d", "file"), /parent is not a directory/);
  assertThrows(() => t.place("a/b", "file"), /replaces a directory/);
  assertThrows(() => t.place("", "symlink"), /layer root/);
  assertEquals(t.place("s", "file").existing, "symlink");
  t.checkHardlinkTarget("a/b/c", "h");
  assertThrows(() => t.checkHardlinkTarget("s", "h"), /not a regular file/);
  assertThrows(() => t.checkHardlinkTarget("a/b", "h"), /not a regular file/);
  assertThrows(() => t.checkHardlinkTarget("nope", "h"), /not a regular file/);
});

// ---- extraction (real files in a temp dir) -----------------------------------------------------

async function withDirs(fn: (dest: string, outside: string) => Promise<void>): Promise<void> {
  const top = await Deno.makeTempDir({ prefix: "tar-test-" });
  await Deno.mkdir(`${top}/dest`);
  await Deno.mkdir(`${top}/outside`);
  try {
    await fn(`${top}/dest`, `${top}/outside`);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
}

function listAll(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of Deno.readDirSync(d)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory) walk(`${d}/${e.name}`, r);
    }
  };
  walk(dir, "");
  return out.sort();
}

async function refuses(entries: Parameters<typeof craftTar>[0], re: RegExp, end = true) {
  await withDirs(async (dest, outside) => {
    const tar = craftTar(
      entries.map((e) => ({ ...e, linkname: e.linkname?.replace("$OUT", outside) })),
      end,
    );
    let err: unknown;
    try {
      await extractTar(new MemoryReader(tar), dest, tar.length);
    } catch (e) {
      err = e;
    }
    assert(err instanceof TarError, `expected a TarError, got ${err}`);
    assert(re.test((err as Error).message), (err as Error).message);
    assertEquals(listAll(outside), [], "nothing may be written outside the layer");
  });
}

Deno.test("extract: files, dirs, implicit parents, modes without setuid, mtimes", async () => {
  await withDirs(async (dest) => {
    const tar = craftTar([
      { name: "./bin/", type: "5", mode: 0o755 },
      { name: "./bin/su", data: "#!/bin/sh\n", mode: 0o4755, mtime: 1234567890 },
      { name: "deep/er/file", data: "x".repeat(3000), mode: 0o2640 },
      { name: "tmp/", type: "5", mode: 0o1777 },
      { name: "link", type: "2", linkname: "/etc/passwd" },
      { name: "hard", type: "1", linkname: "./bin/su" },
    ]);
    const st = await extractTar(new MemoryReader(tar), dest, tar.length);
    assertEquals(st.entries, 6);
    assertEquals(listAll(dest), [
      "bin",
      "bin/su",
      "deep",
      "deep/er",
      "deep/er/file",
      "hard",
      "link",
      "tmp",
    ]);
    const su = Deno.statSync(`${dest}/bin/su`);
    assertEquals(su.mode! & 0o7777, 0o755);
    assertEquals(su.mtime!.getTime(), 1234567890000);
    assertEquals(su.nlink, 2);
    assertEquals(Deno.statSync(`${dest}/deep/er/file`).mode! & 0o7777, 0o640);
    assertEquals(Deno.statSync(`${dest}/tmp`).mode! & 0o7777, 0o777);
    assertEquals(Deno.readLinkSync(`${dest}/link`), "/etc/passwd");
    assertEquals(Deno.readTextFileSync(`${dest}/hard`), "#!/bin/sh\n");
    assertEquals(Deno.statSync(`${dest}/bin/su`).uid, 0);
  });
});

Deno.test("extract: a symlink to outside then a file through it is refused", async () => {
  await refuses([
    { name: "a", type: "2", linkname: "$OUT" },
    { name: "a/passwd", data: "pwned" },
  ], /traverses a symlink/);
  await refuses([
    { name: "d/", type: "5" },
    { name: "d/l", type: "2", linkname: "../.." },
    { name: "d/l/x/", type: "5" },
  ], /traverses a symlink/);
});

Deno.test("extract: hard links outside, through a symlink, or to a symlink are refused", async () => {
  await refuses([{ name: "h", type: "1", linkname: "../../x" }], /'\.\.'/);
  await refuses([{ name: "h", type: "1", linkname: "/etc/passwd" }], /absolute path/);
  await refuses([
    { name: "s", type: "2", linkname: "$OUT" },
    { name: "h", type: "1", linkname: "s/f" },
  ], /not a regular file/);
  await refuses([
    { name: "s", type: "2", linkname: "$OUT/f" },
    { name: "h", type: "1", linkname: "s" },
  ], /not a regular file/);
});

Deno.test("extract: a file replacing a symlink replaces the link, never writes through it", async () => {
  await withDirs(async (dest, outside) => {
    const tar = craftTar([
      { name: "s", type: "2", linkname: `${outside}/f` },
      { name: "s", data: "inside" },
    ]);
    await extractTar(new MemoryReader(tar), dest, tar.length);
    assertEquals(listAll(outside), []);
    assert(Deno.lstatSync(`${dest}/s`).isFile);
    assertEquals(Deno.readTextFileSync(`${dest}/s`), "inside");
  });
});

Deno.test("extract: path traversal, absolute paths and pax paths are refused", async () => {
  await refuses([{ name: "../evil", data: "x" }], /'\.\.'/);
  await refuses([{ name: "/etc/evil", data: "x" }], /absolute path/);
  await refuses([
    { name: "PaxHeaders/x", type: "x", data: paxRecords({ path: "a/../../evil" }) },
    { name: "innocent", data: "x" },
  ], /'\.\.'/);
  await refuses([
    { name: "././@LongLink", type: "L", data: "/abs/evil\0" },
    { name: "innocent", data: "x" },
  ], /absolute path/);
});

Deno.test("extract: devices, fifos, unknown types, replacing a dir are refused", async () => {
  await refuses([{ name: "null", type: "3" }], /device nodes/);
  await refuses([{ name: "sda", type: "4" }], /device nodes/);
  await refuses([{ name: "p", type: "6" }], /fifos/);
  await refuses([{ name: "s", type: "S" }], /unsupported entry type 'S'/);
  await refuses([{ name: "d/", type: "5" }, { name: "d", data: "x" }], /replaces a directory/);
});

Deno.test("extract: truncated, unterminated, giant and oversized-metadata archives", async () => {
  const ok = craftTar([{ name: "f", data: "y".repeat(1000) }]);
  for (const cut of [100, 700, 1024 + 512]) {
    await withDirs(async (dest) => {
      const t = ok.subarray(0, cut);
      let err: unknown;
      try {
        await extractTar(new MemoryReader(t), dest);
      } catch (e) {
        err = e;
      }
      assert(err instanceof TarError && /truncated/.test(err.message), String(err));
    });
  }
  await refuses([{ name: "f", data: "x" }], /no end-of-archive/, false);
  await refuses([{ name: "f", data: "x", sizeField: 0o77777777777 }], /exceeds the remaining/);
  await refuses(
    [{ name: "p", type: "x", data: new Uint8Array((1 << 20) + 1) }, { name: "f" }],
    /pax header too large/,
  );
  await refuses([{ name: "f", badChecksum: true }], /checksum/);
});

async function getxattr(path: string, name: string): Promise<string> {
  const r = await new Deno.Command("python3", {
    args: [
      "-c",
      "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())",
      path,
      name,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(r.stdout).trim();
}

Deno.test("extract: OCI whiteouts become overlayfs whiteouts and opaque dirs", async () => {
  await withDirs(async (dest) => {
    const tar = craftTar([
      { name: "etc/", type: "5" },
      { name: "etc/.wh.motd" },
      { name: "var/lib/.wh..wh..opq" },
      { name: "keep" },
      { name: ".wh.keep" }, // same-layer entry wins over its whiteout (OCI)
      { name: ".wh.gone" },
      { name: "gone", data: "back" }, // a later entry replaces the whiteout
    ]);
    await extractTar(new MemoryReader(tar), dest, tar.length);
    const wh = Deno.lstatSync(`${dest}/etc/motd`);
    assert(wh.isCharDevice, "whiteout is a char device");
    assertEquals(wh.rdev, 0);
    assertEquals(await getxattr(`${dest}/var/lib`, "trusted.overlay.opaque"), "y");
    assert(Deno.lstatSync(`${dest}/keep`).isFile);
    assertEquals(Deno.readTextFileSync(`${dest}/gone`), "back");
    assertEquals(listAll(dest).filter((p) => p.includes(".wh.")), []);
  });
});

Deno.test("StreamReader: odd chunk boundaries, hashes every byte (trailing padding too)", async () => {
  await withDirs(async (dest) => {
    const big = new Uint8Array(5 << 20).map((_, i) => (i * 31) & 0xff); // > maxTake: streamed
    const mid = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
    const tar = craftTar([
      { name: "small", data: "hello" },
      { name: "big", data: big },
      { name: "mid", data: mid },
      { name: "x/", type: "5" },
    ]);
    const padded = new Uint8Array(tar.length + 4096); // GNU tar pads to a record size
    padded.set(tar);
    const hs = new Map(["sha384", "sha256"].map((a) => [a, createHash(a)]));
    const s = new StreamReader([...hs.values()]);
    const done = extractTar(s, dest);
    // Feed in uneven pieces while the extraction runs, as WriteBlob does.
    for (let off = 0, i = 0; off < padded.length; i++) {
      const n = [1, 511, 513, 4096, 100_000, 3 << 20][i % 6];
      s.push(padded.slice(off, off + n));
      off += n;
      await s.waitForSpace(1 << 20);
    }
    s.end();
    await done;
    assertEquals(
      hs.get("sha384")!.digest("hex"),
      createHash("sha384").update(padded).digest("hex"),
    );
    assertEquals(
      hs.get("sha256")!.digest("hex"),
      createHash("sha256").update(padded).digest("hex"),
    );
    assertEquals(Deno.readFileSync(`${dest}/big`), big);
    assertEquals(Deno.readFileSync(`${dest}/mid`), mid);
    assertEquals(Deno.readTextFileSync(`${dest}/small`), "hello");
  });
});

Deno.test("StreamReader: abort fails the extraction; an early end is a truncation", async () => {
  await withDirs(async (dest) => {
    const s = new StreamReader([]);
    const done = extractTar(s, dest).then(() => "ok", (e) => (e as Error).message);
    s.push(craftTar([{ name: "f", data: "x".repeat(2000) }]).subarray(0, 1000));
    s.abort(new TarError("upload discarded"));
    assertEquals(await done, "Invalid layer archive: upload discarded");
  });
  await withDirs(async (dest) => {
    const s = new StreamReader([]);
    const done = extractTar(s, dest).then(() => "ok", (e) => (e as Error).message);
    s.push(craftTar([{ name: "f", data: "x".repeat(2000) }]).subarray(0, 1000));
    s.end();
    assert(/truncated archive/.test(await done));
  });
});
