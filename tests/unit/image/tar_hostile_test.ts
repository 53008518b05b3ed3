/**
 * Hostile tar fields (issue 10 item 11): a negative GNU base-256 size is refused, and both byte
 * sources (the unary AddBlob's MemoryReader and the chunked/streamed upload's StreamReader) give
 * the same answer for the same bytes; names that are not UTF-8 are refused instead of collapsing
 * into one U+FFFD-named file (the extracted tree would differ from the measured tar).
 */
import { assertEquals, assertMatch } from "../../helpers/assert.ts";
import { base256, craftTar, paxRecords } from "../../helpers/tarcraft.ts";
import { extractTar } from "../../../src/image/tar/extract.ts";
import { MemoryReader, StreamReader } from "../../../src/image/tar/reader.ts";

function listAll(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = `${prefix}${e.name}`;
    out.push(e.isFile ? `${p}=${Deno.readTextFileSync(`${dir}/${p}`)}` : p);
    if (e.isDirectory) out.push(...listAll(dir, `${p}/`));
  }
  return out;
}

/** What one path makes of the bytes: the extracted tree, or the refusal. */
async function outcome(tar: Uint8Array, stream: boolean): Promise<string> {
  const dest = await Deno.makeTempDir();
  try {
    if (!stream) await extractTar(new MemoryReader(tar), dest, tar.length);
    else {
      const s = new StreamReader([]);
      const done = extractTar(s, dest, tar.length);
      for (let off = 0; off < tar.length; off += 700) s.push(tar.slice(off, off + 700));
      s.end();
      await done;
    }
    return `ok ${listAll(dest).join(" ")}`;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await Deno.remove(dest, { recursive: true });
  }
}

async function bothPaths(tar: Uint8Array): Promise<string> {
  const [unary, streamed] = [await outcome(tar, false), await outcome(tar, true)];
  assertEquals(unary, streamed, "AddBlob and the streamed upload disagree on the same bytes");
  return unary;
}

Deno.test("a negative base-256 size is refused, alike by both upload paths", async () => {
  for (const size of [-1n, -512n, -513n, -(1n << 40n)]) {
    const tar = craftTar([
      { name: "f", sizeBytes: base256(size) },
      { name: "g", data: "hello" },
    ]);
    assertMatch(await bothPaths(tar), /^Invalid layer archive: negative entry size -\d+/);
  }
  // A positive base-256 size is fine (GNU tar writes it for sizes ≥ 8 GiB).
  const ok = craftTar([{ name: "f", data: "abc", sizeBytes: base256(3n) }]);
  assertEquals(await bothPaths(ok), "ok f=abc");
});

Deno.test("names that are not UTF-8 are refused, not collapsed into one file", async () => {
  const raw = (...b: number[]) => new Uint8Array(b);
  const two = craftTar([
    { name: "", nameBytes: raw(0x61, 0xff), data: "one" },
    { name: "", nameBytes: raw(0x61, 0xfe), data: "two" },
  ]);
  assertMatch(await bothPaths(two), /^Invalid layer archive: entry name is not valid UTF-8/);
  // The same in a GNU long name, a pax path and a symlink target.
  const longName = craftTar([
    { name: "././@LongLink", type: "L", data: raw(0x62, 0xc3, 0x28, 0) },
    { name: "b", data: "x" },
  ]);
  assertMatch(await bothPaths(longName), /GNU long name is not valid UTF-8/);
  const pax = paxRecords({ path: "c" });
  const badPax = new Uint8Array([...pax.subarray(0, pax.length - 2), 0xff, 0x0a]);
  badPax[0] = pax[0]; // same length: one byte of the value replaced
  const paxTar = craftTar([{ name: "PaxHeader", type: "x", data: badPax }, {
    name: "c",
    data: "y",
  }]);
  assertMatch(await bothPaths(paxTar), /pax record is not valid UTF-8/);
  const link = new Uint8Array(craftTar([{ name: "l", type: "2", linkname: "tx" }]));
  link[158] = 0xff; // "t\xff"
  let sum = 0;
  link.fill(0x20, 148, 156);
  for (let i = 0; i < 512; i++) sum += link[i];
  link.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  assertMatch(await bothPaths(link), /link target is not valid UTF-8/);
  // Valid UTF-8 beyond ASCII is kept.
  assertEquals(await bothPaths(craftTar([{ name: "é", data: "z" }])), "ok é=z");
});
