/**
 * Safe, streaming extraction of an uncompressed tar into an EMPTY directory (a layer staging dir).
 * One pass: the byte source (./reader.ts) hashes the raw bytes as it hands them out, ./entries.ts
 * parses them into entries (headers by ./format.ts), every placement is decided by ./tree.ts
 * before anything touches the disk, and regular files are written by ./writer.ts. One method per
 * entry kind.
 * Refused: absolute paths, `..`, traversal through symlinks, hard links to anything but a regular
 * file of this layer, device nodes, fifos, unknown entry types, truncated archives, oversized
 * metadata. Kept: rwx bits (setuid/setgid/sticky dropped), file mtimes. Not kept: ownership (the
 * daemon is root, so everything is root-owned), xattrs. OCI whiteouts become overlayfs whiteouts.
 */
import { lsetxattr, mkWhiteout } from "../../sys/fs.ts";
import { classifyWhiteout, normalizeEntryPath, padded, safeMode, TarError } from "./format.ts";
import { type Entry, EntryReader } from "./entries.ts";
import type { TarReader } from "./reader.ts";
import { LayerTree, type Placement } from "./tree.ts";
import { at, BackgroundWrites, currentUmask, makeDirs, mkdirMode, writeAll } from "./writer.ts";

export interface ExtractStats {
  entries: number;
  bytes: number;
}

/**
 * Extracts the archive into `dest` (an existing, empty directory). Throws TarError on anything
 * refused; the caller deletes `dest` then. `totalSize`, when known, lets a giant size field be
 * refused before reading.
 */
export async function extractTar(
  reader: TarReader,
  dest: string,
  totalSize?: number,
): Promise<ExtractStats> {
  const umask = currentUmask();
  const writes = new BackgroundWrites(dest, umask);
  try {
    const entries = new EntryReader(reader, totalSize);
    const stats = await new Extraction(entries, dest, writes, umask).run();
    await writes.finish();
    writes.check();
    return stats;
  } finally {
    // Never leave a write running into a directory the caller is about to delete.
    await writes.abandon();
  }
}

/** One extraction: an entry at a time, each decided by the tree, then done on the disk. */
class Extraction {
  readonly #tree = new LayerTree();

  constructor(
    private readonly entries: EntryReader,
    private readonly dest: string,
    private readonly writes: BackgroundWrites,
    private readonly umask: number,
  ) {}

  async run(): Promise<ExtractStats> {
    for (let e = await this.entries.next(); e !== null; e = await this.entries.next()) {
      await this.#entry(e);
    }
    return { entries: this.entries.count, bytes: this.entries.position };
  }

  async #entry(e: Entry): Promise<void> {
    const wo = e.path === "" ? { kind: "none" as const } : classifyWhiteout(e.path);
    if (wo.kind !== "none") {
      await this.entries.skip(padded(e.size));
      if (wo.kind === "opaque") this.#opaque(e, wo.dir);
      else this.#whiteout(wo.target);
      return;
    }
    switch (e.header.kind) {
      case "dir":
        return await this.#dir(e);
      case "file":
        return await this.#file(e);
      case "symlink":
        return await this.#symlink(e);
      case "hardlink":
        return await this.#hardlink(e);
      case "chardev":
      case "blockdev":
        throw new TarError("device nodes are not allowed in layers", e.rawPath);
      case "fifo":
        throw new TarError("fifos are not allowed in layers", e.rawPath);
      default:
        throw new TarError(`unsupported entry type '${printable(e.header.typeflag)}'`, e.rawPath);
    }
  }

  /** Makes the missing parents and removes what a new non-directory replaces. */
  async #prepare(path: string, pl: Placement): Promise<void> {
    makeDirs(this.dest, pl);
    if (pl.existing !== undefined) {
      await this.writes.waitFor(path);
      Deno.removeSync(at(this.dest, path));
    }
  }

  /** `.wh..wh..opq`: the directory hides the lower layers' content. */
  #opaque(e: Entry, dir: string): void {
    const pl = this.#tree.place(dir, "dir");
    if (pl.existing !== undefined && pl.existing !== "dir") {
      throw new TarError("opaque marker in a non-directory", e.rawPath);
    }
    makeDirs(this.dest, pl);
    if (pl.existing === undefined) mkdirMode(this.dest, dir, 0o755, this.umask);
    this.#tree.record(pl, dir, "dir");
    lsetxattr(at(this.dest, dir), "trusted.overlay.opaque", new TextEncoder().encode("y"));
  }

  /** `.wh.<name>`: <name> of the lower layers is deleted. */
  #whiteout(target: string): void {
    const pl = this.#tree.place(target, "whiteout");
    // OCI: an entry of this same layer wins over its whiteout.
    if (pl.existing !== undefined) return;
    makeDirs(this.dest, pl);
    mkWhiteout(at(this.dest, target));
    this.#tree.record(pl, target, "whiteout");
  }

  async #dir(e: Entry): Promise<void> {
    const pl = this.#tree.place(e.path, "dir");
    const mode = safeMode(e.header.mode);
    if (pl.existing === "dir") {
      makeDirs(this.dest, pl);
      Deno.chmodSync(at(this.dest, e.path), mode);
    } else {
      await this.#prepare(e.path, pl);
      mkdirMode(this.dest, e.path, mode, this.umask);
    }
    this.#tree.record(pl, e.path, "dir");
    await this.entries.skip(padded(e.size));
  }

  /** Small files go to the background writes; larger than maxTake, written here in pieces. */
  async #file(e: Entry): Promise<void> {
    const pl = this.#tree.place(e.path, "file");
    await this.#prepare(e.path, pl);
    const mode = safeMode(e.header.mode);
    const mtime = Math.max(0, e.header.mtime); // pre-1970 (base-256 negative) clamps to the epoch
    if (e.size <= this.entries.maxTake) {
      const data = await this.entries.read(e.size, "file data");
      this.writes.add(e.path, data, mode, mtime);
      this.#tree.record(pl, e.path, "file");
      await this.entries.skip(padded(e.size) - e.size);
      await this.writes.flushIfFull();
      return;
    }
    const full = at(this.dest, e.path);
    await this.#writeLarge(full, e, mode);
    Deno.utimeSync(full, mtime, mtime);
    this.#tree.record(pl, e.path, "file");
    await this.entries.skip(padded(e.size) - e.size);
  }

  async #writeLarge(full: string, e: Entry, mode: number): Promise<void> {
    const f = Deno.openSync(full, { write: true, createNew: true, mode });
    try {
      let left = e.size;
      while (left > 0) {
        const v = await this.entries.readPiece(Math.min(left, 1 << 20), e);
        writeAll(f, v);
        left -= v.length;
      }
    } finally {
      f.close();
    }
    if ((mode & this.umask) !== 0) Deno.chmodSync(full, mode);
  }

  async #symlink(e: Entry): Promise<void> {
    if (e.linkname === "" || e.linkname.includes("\0")) {
      throw new TarError("bad symlink target", e.rawPath);
    }
    const pl = this.#tree.place(e.path, "symlink");
    await this.#prepare(e.path, pl);
    // Stored verbatim: it is resolved inside the container, and no later entry may pass it.
    Deno.symlinkSync(e.linkname, at(this.dest, e.path));
    this.#tree.record(pl, e.path, "symlink");
    await this.entries.skip(padded(e.size));
  }

  async #hardlink(e: Entry): Promise<void> {
    const target = normalizeEntryPath(e.linkname);
    this.#tree.checkHardlinkTarget(target, e.rawPath);
    if (target === e.path) throw new TarError("hard link to itself", e.rawPath);
    const pl = this.#tree.place(e.path, "file");
    makeDirs(this.dest, pl);
    await this.writes.waitFor(target);
    if (pl.existing !== undefined) {
      await this.writes.waitFor(e.path);
      Deno.removeSync(at(this.dest, e.path));
    }
    Deno.linkSync(at(this.dest, target), at(this.dest, e.path));
    this.#tree.record(pl, e.path, "file");
    await this.entries.skip(padded(e.size));
  }
}

function printable(c: string): string {
  const code = c.charCodeAt(0);
  return code >= 0x21 && code < 0x7f ? c : `\\x${code.toString(16).padStart(2, "0")}`;
}
