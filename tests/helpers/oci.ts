/**
 * OCI fixtures made at test time with the real tools: an OCI image layout by Debian's `umoci`
 * (init, new, unpack, the rootfs written into the bundle, repack, config), a docker-archive from
 * it by `skopeo copy` (what docker save / podman save produce).
 */

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!r.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

export interface OciConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workdir?: string;
}

const rootless = Deno.uid() === 0 ? [] : ["--rootless"];

/**
 * An OCI layout at `layout` with image `tag`: one layer per entry of `fill` (each writes into the
 * rootfs directory it is given; umoci repack stores what changed), then the config.
 */
export async function ociLayout(
  layout: string,
  tag: string,
  fill: ((rootfs: string) => Promise<void>)[],
  config: OciConfig = {},
): Promise<void> {
  try {
    await Deno.stat(`${layout}/oci-layout`);
  } catch {
    await run("umoci", ["init", "--layout", layout]);
  }
  const ref = `${layout}:${tag}`;
  await run("umoci", ["new", "--image", ref]);
  const bundle = await Deno.makeTempDir({ prefix: "umoci-bundle-" });
  try {
    for (const f of fill) {
      await Deno.remove(bundle, { recursive: true });
      await run("umoci", ["unpack", ...rootless, "--image", ref, bundle]);
      await f(`${bundle}/rootfs`);
      await run("umoci", ["repack", "--image", ref, bundle]);
    }
  } finally {
    await Deno.remove(bundle, { recursive: true }).catch(() => {});
  }
  const args = ["config", ...rootless, "--image", ref];
  if (config.entrypoint) { for (const e of config.entrypoint) args.push("--config.entrypoint", e); }
  if (config.cmd) { for (const c of config.cmd) args.push("--config.cmd", c); }
  for (const e of config.env ?? []) args.push("--config.env", e);
  if (config.workdir) args.push("--config.workingdir", config.workdir);
  await run("umoci", args);
}

/** skopeo copy oci:LAYOUT:TAG docker-archive:FILE:NAME (no policy file needed). */
export async function dockerArchive(layout: string, tag: string, file: string, name: string) {
  await run("skopeo", [
    "--insecure-policy",
    "copy",
    "-q",
    `oci:${layout}:${tag}`,
    `docker-archive:${file}:${name}`,
  ]);
}

/** skopeo copy into another layout with zstd-compressed layers. */
export async function zstdLayout(layout: string, tag: string, out: string, outTag: string) {
  await run("skopeo", [
    "--insecure-policy",
    "copy",
    "-q",
    "--dest-compress-format",
    "zstd",
    `oci:${layout}:${tag}`,
    `oci:${out}:${outTag}`,
  ]);
}
