/**
 * The image part of the state directory (behaviour file §4.5, §4.7): staging and committing an
 * image directory, alias links, and which layers have content. I/O only; decisions are made by
 * the caller (service.ts).
 */
import { CERT_FILE, type Layout, MANIFEST_FILE } from "../layout.ts";
import { AcondError } from "../errors.ts";
import { errnoOf } from "../sys/errors.ts";
import type { LoadedImage } from "../state.ts";

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Every existing component of `rel` under the root must be a real directory (never a symlink or a
 * file), so that the links and directories we create land where we think. Returns the first
 * offending path, or null.
 */
export async function conflictingPath(root: string, rel: string): Promise<string | null> {
  let path = root;
  for (const part of rel.split("/")) {
    path = `${path}/${part}`;
    const st = await lstatOrNull(path);
    if (st === null) return null;
    if (!st.isDirectory || st.isSymlink) return path;
  }
  return null;
}

/** The directories AddManifest writes into, relative to the root. */
export function imageParents(image: LoadedImage): string[] {
  return [
    "tmp",
    `images/${image.alg}/${image.signerDigest}`,
    `contents/signer/${image.alg}/${image.signerDigest}`,
  ];
}

/** Where a layer link `l/<i>` points: `contents/<ref verbatim>` from images/<alg>/<s>/<m>/l/. */
export function layerLinkTarget(ref: string): string {
  return `../../../../../contents/${ref}`;
}

/** Where a content alias link in contents/signer/<alg>/<signer>/ points (ACON §4.7). */
export function contentAliasTarget(object: string): string {
  return object.startsWith("signer/")
    ? `../..${object.slice("signer".length)}`
    : `../../../${object}`;
}

/** An image directory staged under tmp/, and the alias links made beside it, to be moved in. */
export interface StagedImage {
  dir: string;
  /** [where the link was made under `dir`/.aliases, where commitImage moves it]. */
  links: [string, string][];
}

/** Where the staged alias links wait (removed from the image directory before it moves in). */
const ALIASES = ".aliases";

/**
 * Writes the image directory (manifest, certificate, layer links) under tmp/, and its alias
 * links beside it: every write that needs space happens here, before the measurement, so that
 * commitImage (after it) only renames (a long link target takes a page of its own on tmpfs).
 */
export async function stageImage(layout: Layout, image: LoadedImage): Promise<StagedImage> {
  await Deno.mkdir(layout.tmp, { recursive: true, mode: 0o700 });
  const dir = await Deno.makeTempDir({ dir: layout.tmp, prefix: "image-" });
  try {
    await Deno.chmod(dir, 0o755);
    await Deno.writeFile(`${dir}/${MANIFEST_FILE}`, image.raw, { mode: 0o644 });
    await Deno.writeFile(`${dir}/${CERT_FILE}`, image.certificate, { mode: 0o644 });
    await Deno.mkdir(`${dir}/l`, { mode: 0o755 });
    for (const [i, ref] of image.manifest.layers.entries()) {
      await Deno.symlink(layerLinkTarget(ref), `${dir}/l/${i}`);
    }
    const links: [string, string][] = [];
    const signerDir = layout.signerImagesDir(image.alg, image.signerDigest);
    const aliasDir = layout.signerAliasDir(image.alg, image.signerDigest);
    const want: [string, string][] = [];
    for (const names of Object.values(image.manifest.aliases.self)) {
      for (const name of names) want.push([image.manifestDigest, `${signerDir}/${name}`]);
    }
    for (const [object, names] of Object.entries(image.manifest.aliases.contents)) {
      for (const name of names) want.push([contentAliasTarget(object), `${aliasDir}/${name}`]);
    }
    if (want.length > 0) await Deno.mkdir(`${dir}/${ALIASES}`, { mode: 0o700 });
    for (const [i, [target, dest]] of want.entries()) {
      const at = `${dir}/${ALIASES}/${i}`;
      await Deno.symlink(target, at);
      links.push([at, dest]);
    }
    return { dir, links };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw noSpace(e, "the image") ?? e;
  }
}

/** ENOSPC/EDQUOT as resource_exhausted, with what did not fit; null for any other error. */
export function noSpace(e: unknown, what: string): AcondError | null {
  const errno = errnoOf(e);
  if (errno !== "ENOSPC" && errno !== "EDQUOT") return null;
  return new AcondError(
    "resource_exhausted",
    `No space left for ${what} in the state directory (${errno}): free space there and retry`,
    { cause: e },
  );
}

export async function discardStaged(staged: StagedImage): Promise<void> {
  await Deno.remove(staged.dir, { recursive: true }).catch(() => {});
}

/**
 * Moves the staged directory and its alias links into place: renames, and directories (which
 * take no data pages on tmpfs, where the state lives). A link moves in only where nothing exists
 * yet (even a dangling link): first definition wins (the state lock keeps others out meanwhile).
 */
export async function commitImage(
  layout: Layout,
  image: LoadedImage,
  staged: StagedImage,
): Promise<void> {
  const signerDir = layout.signerImagesDir(image.alg, image.signerDigest);
  await Deno.mkdir(signerDir, { recursive: true, mode: 0o755 });
  const dest = layout.imageDir(image.id);
  // A directory left by an earlier daemon on the same root (dev mode) is not a loaded image.
  if ((await lstatOrNull(dest)) !== null) {
    const trash = await Deno.makeTempDir({ dir: layout.tmp, prefix: "stale-" });
    await Deno.rename(dest, `${trash}/d`);
    await Deno.remove(trash, { recursive: true });
  }
  if (staged.links.length > 0) {
    if (Object.keys(image.manifest.aliases.contents).length > 0) {
      await Deno.mkdir(layout.signerAliasDir(image.alg, image.signerDigest), {
        recursive: true,
        mode: 0o755,
      });
    }
    for (const [at, to] of staged.links) {
      if ((await lstatOrNull(to)) === null) await Deno.rename(at, to);
    }
    await Deno.remove(`${staged.dir}/${ALIASES}`, { recursive: true });
  }
  await Deno.rename(staged.dir, dest);
}

/**
 * The layers of a committed image whose content is absent: `l/<i>` does not resolve (through
 * alias links) to a directory.
 */
export async function missingLayers(layout: Layout, image: LoadedImage): Promise<string[]> {
  const dir = layout.imageDir(image.id);
  const missing: string[] = [];
  for (const [i, ref] of image.manifest.layers.entries()) {
    let present = false;
    try {
      present = (await Deno.stat(`${dir}/l/${i}`)).isDirectory;
    } catch { /* dangling */ }
    if (!present) missing.push(ref);
  }
  return missing;
}

/** The stored manifest bytes and certificate of a committed image. */
export async function readImage(
  layout: Layout,
  id: string,
): Promise<{ raw: Uint8Array; certificate: Uint8Array }> {
  const dir = layout.imageDir(id);
  return {
    raw: await Deno.readFile(`${dir}/${MANIFEST_FILE}`),
    certificate: await Deno.readFile(`${dir}/${CERT_FILE}`),
  };
}
