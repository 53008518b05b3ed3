/**
 * The safety model of one extraction, as pure logic. Layers are extracted into a fresh, empty
 * directory, so everything under it was created by this extraction and is recorded here. That lets
 * every decision be made without trusting the file system:
 * - an entry's parents must all be directories this extraction created (never a symlink, so a
 *   symlink entry `a -> /etc` followed by `a/passwd` is refused, and never a regular file);
 * - a hard link may only point at a regular file extracted earlier (never a symlink, a directory or
 *   anything outside the layer);
 * - a non-directory may replace an earlier non-directory (it is unlinked first, so a later write
 *   can never follow a planted symlink), but never a directory.
 */
import { parentOf, TarError } from "./format.ts";

export type NodeKind = "dir" | "file" | "symlink" | "whiteout";

export interface Placement {
  /** Parent directories that do not exist yet, outermost first (tar may omit them). */
  mkdirs: string[];
  /** What is at the path now (undefined when nothing is). */
  existing: NodeKind | undefined;
}

export class LayerTree {
  readonly #nodes = new Map<string, NodeKind>([["", "dir"]]);

  kind(path: string): NodeKind | undefined {
    return this.#nodes.get(path);
  }

  /** Where a new `kind` entry at `path` would go; throws when it would be unsafe. */
  place(path: string, kind: NodeKind): Placement {
    if (path === "" && kind !== "dir") throw new TarError("entry replaces the layer root", path);
    const mkdirs: string[] = [];
    for (let p = parentOf(path);; p = parentOf(p)) {
      const k = this.#nodes.get(p);
      if (k === undefined) mkdirs.push(p);
      else if (k === "symlink") throw new TarError("path traverses a symlink", path);
      else if (k !== "dir") throw new TarError("parent is not a directory", path);
      else break; // an existing directory: its own parents were checked when it was made
      if (p === "") break;
    }
    mkdirs.reverse();
    const existing = path === "" ? "dir" : this.#nodes.get(path);
    if (existing === "dir" && kind !== "dir") {
      throw new TarError("entry replaces a directory", path);
    }
    return { mkdirs, existing };
  }

  /** A hard link target must be a regular file this extraction already wrote. */
  checkHardlinkTarget(target: string, entry: string): void {
    if (this.#nodes.get(target) !== "file") {
      throw new TarError("hard link target is not a regular file in this layer", entry);
    }
  }

  record(placement: Placement, path: string, kind: NodeKind): void {
    for (const d of placement.mkdirs) this.#nodes.set(d, "dir");
    this.#nodes.set(path, kind);
  }
}
