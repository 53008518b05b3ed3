/**
 * Reading a docker-archive (`docker save`, `podman save`, `skopeo copy ... docker-archive:`): an
 * uncompressed tar holding manifest.json ([{Config, RepoTags, Layers}]), the config JSON and the
 * layer tars (`<id>/layer.tar`, `<hex>.tar`, or Docker 25's `blobs/sha256/<hex>`, possibly
 * symlinks to one another). The archive is indexed once (headers only, with the pure header code
 * of image/tar/format.ts) and each layer is streamed from its offset.
 */
import {
  BLOCK,
  isZeroBlock,
  padded,
  parseHeader,
  parsePax,
  parsePaxSize,
} from "../../image/tar/format.ts";
import { configOf, parseJson, sha256Hex, type SourceImage } from "./source.ts";
import { fileRange } from "./layers.ts";

export interface TarMember {
  name: string;
  kind: "file" | "symlink" | "hardlink" | "other";
  offset: number;
  size: number;
  linkname: string;
}

/** `a/./b/../c` → `a/c` (archive member names; `..` above the top stays out). */
function normalize(path: string): string {
  const out: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return out.join("/");
}

async function readExactly(f: Deno.FsFile, n: number): Promise<Uint8Array | null> {
  const b = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await f.read(b.subarray(got));
    if (r === null) return got === 0 ? null : b.subarray(0, got);
    got += r;
  }
  return b;
}

/** The members of an uncompressed tar file, by normalised name. */
export async function indexTar(path: string): Promise<Map<string, TarMember>> {
  const out = new Map<string, TarMember>();
  const f = await Deno.open(path);
  try {
    let pos = 0;
    let longName: string | undefined, longLink: string | undefined;
    let pax = new Map<string, string>();
    for (;;) {
      const block = await readExactly(f, BLOCK);
      if (block === null || block.length < BLOCK) {
        throw new Error(`${path} is not a complete tar archive`);
      }
      pos += BLOCK;
      if (isZeroBlock(block)) break;
      const h = parseHeader(block);
      const size = pax.has("size") ? parsePaxSize(pax.get("size")!) : h.size;
      if (["pax", "paxGlobal", "gnuLongName", "gnuLongLink"].includes(h.kind)) {
        if (h.size > 1 << 20) throw new Error(`${path}: oversized ${h.kind} record`);
        const data = await readExactly(f, padded(h.size));
        if (!data || data.length < padded(h.size)) throw new Error(`${path} ends early`);
        pos += padded(h.size);
        const text = () => new TextDecoder().decode(data.subarray(0, h.size)).replace(/\0+$/, "");
        if (h.kind === "pax") pax = parsePax(data.subarray(0, h.size));
        else if (h.kind === "gnuLongName") longName = text();
        else if (h.kind === "gnuLongLink") longLink = text();
        continue;
      }
      const name = normalize(pax.get("path") ?? longName ?? h.name);
      const linkname = pax.get("linkpath") ?? longLink ?? h.linkname;
      const kind = h.kind === "file" || h.kind === "symlink" || h.kind === "hardlink"
        ? h.kind
        : "other";
      out.set(name, { name, kind, offset: pos, size: kind === "file" ? size : 0, linkname });
      // Links, directories and devices carry no data; unknown types (GNU sparse...) may.
      if (kind === "file" || h.kind === "unsupported") {
        pos += padded(size);
        await f.seek(pos, Deno.SeekMode.Start);
      }
      longName = longLink = undefined;
      pax = new Map();
    }
  } finally {
    f.close();
  }
  return out;
}

/** A member's regular file, following symlinks and hard links inside the archive. */
export function resolveMember(index: Map<string, TarMember>, name: string): TarMember {
  let m = index.get(normalize(name));
  for (let hops = 0; m && m.kind !== "file"; hops++) {
    if (hops > 16 || (m.kind !== "symlink" && m.kind !== "hardlink")) break;
    const target = m.kind === "hardlink"
      ? m.linkname
      : m.linkname.startsWith("/")
      ? m.linkname
      : `${m.name.split("/").slice(0, -1).join("/")}/${m.linkname}`;
    m = index.get(normalize(target));
  }
  if (!m || m.kind !== "file") throw new Error(`the archive has no file ${name}`);
  return m;
}

async function memberBytes(path: string, m: TarMember): Promise<Uint8Array> {
  if (m.size > 64 << 20) throw new Error(`${m.name} is too large for JSON`);
  const f = await Deno.open(path);
  try {
    await f.seek(m.offset, Deno.SeekMode.Start);
    const b = await readExactly(f, m.size);
    if (!b || b.length < m.size) throw new Error(`${path} ends early`);
    return b;
  } finally {
    f.close();
  }
}

/** `docker-archive:FILE[:REF]` → [FILE, REF]: the longest prefix that is a file. */
export function parseArchiveRef(ref: string): [string, string | undefined] {
  const s = ref.slice("docker-archive:".length);
  const exists = (p: string) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  };
  if (exists(s)) return [s, undefined];
  for (let i = s.lastIndexOf(":"); i > 0; i = s.lastIndexOf(":", i - 1)) {
    if (exists(s.slice(0, i))) return [s.slice(0, i), s.slice(i + 1) || undefined];
  }
  return [s, undefined];
}

interface ArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

export async function readDockerArchive(ref: string): Promise<SourceImage> {
  const [file, want] = parseArchiveRef(ref);
  let index: Map<string, TarMember>;
  try {
    index = await indexTar(file);
  } catch (e) {
    throw new Error(`cannot read ${file} as a docker-archive: ${(e as Error).message}`);
  }
  const top = index.get("manifest.json");
  if (!top) throw new Error(`${file} is not a docker-archive (no manifest.json)`);
  const entries = parseJson(
    await memberBytes(file, resolveMember(index, "manifest.json")),
    `${file}: manifest.json`,
  ) as ArchiveEntry[];
  if (!Array.isArray(entries) || entries.some((e) => !e?.Config || !Array.isArray(e.Layers))) {
    throw new Error(`${file}: manifest.json is not a docker-archive manifest`);
  }
  const tagsOf = (e: ArchiveEntry) => e.RepoTags ?? [];
  const matches = want === undefined
    ? entries
    : entries.filter((e) =>
      tagsOf(e).some((t) =>
        t === want || t === `docker.io/library/${want}` || t === `docker.io/${want}` ||
        t.endsWith(`/${want}`)
      )
    );
  if (matches.length !== 1) {
    const all = entries.flatMap(tagsOf);
    throw new Error(
      matches.length === 0
        ? `${file} has no image tagged "${want}" (tags: ${all.join(", ") || "none"})`
        : `${file} holds ${entries.length} images: name one as docker-archive:${file}:TAG ` +
          `(tags: ${all.join(", ") || "none"})`,
    );
  }
  const entry = matches[0];
  const configBytes = await memberBytes(file, resolveMember(index, entry.Config));
  const { config, diffIds } = configOf(parseJson(configBytes, entry.Config), entry.Config);
  if (diffIds.length && diffIds.length !== entry.Layers.length) {
    throw new Error(
      `${entry.Config} lists ${diffIds.length} diff ids for ${entry.Layers.length} layers`,
    );
  }
  return {
    source: ref,
    kind: "docker-archive",
    config,
    layers: entry.Layers.map((name, i) => {
      const m = resolveMember(index, name);
      return {
        what: `layer ${i} (${name} in ${file})`,
        open: () => fileRange(file, m.offset, m.size),
        diffId: diffIds[i],
      };
    }),
    origin: {
      archive: file,
      repoTags: tagsOf(entry),
      // The image id docker and podman show: the config's digest.
      configDigest: `sha256:${await sha256Hex(configBytes)}`,
    },
  };
}
