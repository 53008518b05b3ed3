/** What generate reads from any source (OCI layout, docker-archive, root directory, tarball). */

/** The parts of an OCI/Docker image config that map to the manifest. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

export interface SourceLayer {
  /** For messages: where the layer is. */
  what: string;
  open(): ReadableStream<Uint8Array>;
  /** The digest of the bytes as stored (OCI descriptor), checked while they are read. */
  blobDigest?: string;
  /** The digest of the plain tar (the config's rootfs.diff_ids), checked too. */
  diffId?: string;
  mediaType?: string;
}

export interface SourceImage {
  /** The source as given, e.g. `oci:./img:latest`. */
  source: string;
  kind: "oci" | "docker-archive" | "rootfs" | "tarball";
  config: ImageConfig;
  /** Bottom to top. */
  layers: SourceLayer[];
  /** What identifies the source image (recorded in origin.json): digests, tags. */
  origin: Record<string, unknown>;
}

/** The config object of an OCI or Docker image config blob. */
export function configOf(blob: unknown, what: string): { config: ImageConfig; diffIds: string[] } {
  if (typeof blob !== "object" || blob === null) throw new Error(`${what} is not a JSON object`);
  const b = blob as { config?: ImageConfig; rootfs?: { diff_ids?: unknown } };
  const strings = (v: unknown, field: string): string[] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      throw new Error(`${what}: ${field} is not an array of strings`);
    }
    return v as string[];
  };
  const c = b.config ?? {};
  const config: ImageConfig = {
    Entrypoint: strings(c.Entrypoint, "config.Entrypoint"),
    Cmd: strings(c.Cmd, "config.Cmd"),
    Env: strings(c.Env, "config.Env"),
    WorkingDir: typeof c.WorkingDir === "string" ? c.WorkingDir : undefined,
    User: typeof c.User === "string" ? c.User : undefined,
  };
  return { config, diffIds: strings(b.rootfs?.diff_ids, "rootfs.diff_ids") ?? [] };
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}
