/**
 * Reading an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md,
 * what umoci, skopeo `oci:` and buildah write): oci-layout, index.json (a tag is the
 * org.opencontainers.image.ref.name annotation), the image manifest (through a nested index,
 * linux/amd64), its config and layers; every blob read is checked against its digest.
 */
import { configOf, parseJson, sha256Hex, type SourceImage } from "./source.ts";
import { fileRange } from "./layers.ts";

const REF_NAME = "org.opencontainers.image.ref.name";
const INDEX_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
];

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string };
}

/** `oci:DIR[:TAG]` → [DIR, TAG]. */
export function parseOciRef(ref: string): [string, string | undefined] {
  const s = ref.slice("oci:".length);
  const i = s.lastIndexOf(":");
  if (i > 0 && !s.slice(i + 1).includes("/")) return [s.slice(0, i), s.slice(i + 1) || undefined];
  return [s, undefined];
}

function blobPath(dir: string, digest: string): string {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(digest);
  if (!m) throw new Error(`unsupported digest "${digest}" in ${dir}`);
  return `${dir}/blobs/${m[1]}/${m[2]}`;
}

async function readBlob(dir: string, d: Descriptor, what: string): Promise<unknown> {
  const path = blobPath(dir, d.digest);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${what} ${d.digest} is missing from ${dir}: ${(e as Error).message}`);
  }
  if (d.digest.startsWith("sha256:") && `sha256:${await sha256Hex(bytes)}` !== d.digest) {
    throw new Error(`${what} ${path} does not match its digest ${d.digest}`);
  }
  return parseJson(bytes, `${what} ${path}`);
}

function descriptors(v: unknown, what: string): Descriptor[] {
  const ms = (v as { manifests?: unknown })?.manifests;
  if (!Array.isArray(ms)) throw new Error(`${what} has no "manifests" array`);
  for (const m of ms) {
    if (typeof m?.digest !== "string") throw new Error(`${what}: a manifest has no digest`);
  }
  return ms as Descriptor[];
}

function tagOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME];
}

/** Picks the image manifest: by tag, or the only one; through an index, linux/amd64. */
async function selectManifest(dir: string, tag: string | undefined): Promise<Descriptor> {
  const index = await (async () => {
    try {
      return parseJson(await Deno.readFile(`${dir}/index.json`), `${dir}/index.json`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(`${dir} is not an OCI image layout (no index.json)`);
      }
      throw e;
    }
  })();
  let ms = descriptors(index, `${dir}/index.json`);
  if (tag !== undefined) {
    ms = ms.filter((m) => tagOf(m) === tag);
    if (ms.length === 0) {
      const tags = descriptors(index, "").map(tagOf).filter((t) => t !== undefined);
      throw new Error(
        `${dir} has no image tagged "${tag}" (tags: ${tags.length ? tags.join(", ") : "none"})`,
      );
    }
  }
  if (ms.length !== 1) {
    const tags = ms.map(tagOf).filter((t) => t !== undefined);
    throw new Error(
      `${dir} holds ${ms.length} images: name one as oci:${dir}:TAG (tags: ${
        tags.join(", ") || "none"
      })`,
    );
  }
  let d = ms[0];
  for (let depth = 0; d.mediaType && INDEX_TYPES.includes(d.mediaType); depth++) {
    if (depth > 4) throw new Error(`${dir}: image indexes nested too deeply`);
    const inner = descriptors(await readBlob(dir, d, "image index"), `image index ${d.digest}`);
    const pick = inner.filter((m) =>
      (m.platform?.os ?? "linux") === "linux" && (m.platform?.architecture ?? "amd64") === "amd64"
    );
    if (pick.length === 0) throw new Error(`image index ${d.digest} has no linux/amd64 image`);
    d = pick[0];
  }
  return d;
}

export async function readOciLayout(ref: string): Promise<SourceImage> {
  const [dir, tag] = parseOciRef(ref);
  try {
    const layout = parseJson(await Deno.readFile(`${dir}/oci-layout`), `${dir}/oci-layout`) as {
      imageLayoutVersion?: string;
    };
    if (!layout?.imageLayoutVersion?.startsWith("1.")) {
      throw new Error(`${dir}/oci-layout: unsupported imageLayoutVersion`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${dir} is not an OCI image layout (no oci-layout file)`);
    }
    throw e;
  }
  const md = await selectManifest(dir, tag);
  const manifest = await readBlob(dir, md, "image manifest") as {
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (!manifest?.config?.digest || !Array.isArray(manifest.layers)) {
    throw new Error(`image manifest ${md.digest} has no config or layers`);
  }
  const { config, diffIds } = configOf(
    await readBlob(dir, manifest.config, "image config"),
    `image config ${manifest.config.digest}`,
  );
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(
      `image config lists ${diffIds.length} diff ids for ${manifest.layers.length} layers`,
    );
  }
  return {
    source: ref,
    kind: "oci",
    config,
    layers: manifest.layers.map((l, i) => {
      const path = blobPath(dir, l.digest);
      return {
        what: `layer ${i} (${path})`,
        open: () => fileRange(path),
        blobDigest: l.digest,
        diffId: diffIds[i],
        mediaType: l.mediaType,
      };
    }),
    origin: {
      layout: dir,
      tag: tag ?? tagOf(md) ?? null,
      manifestDigest: md.digest,
      configDigest: manifest.config.digest,
    },
  };
}
