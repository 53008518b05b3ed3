/**
 * generate's plain sources: a root directory (packed with GNU tar: sorted names, numeric owner 0,
 * since acond keeps no ownership anyway) or a tarball (plain, gzip or zstd). They carry no image
 * config: the entrypoint comes from the flags.
 */
import type { SourceImage } from "./source.ts";
import { fileRange } from "./layers.ts";

/** GNU tar's output for the directory; the stream fails if tar does. */
function tarStream(dir: string): ReadableStream<Uint8Array> {
  let p: Deno.ChildProcess;
  try {
    p = new Deno.Command("tar", {
      args: [
        "-C",
        dir,
        "--numeric-owner",
        "--owner=0",
        "--group=0",
        "--sort=name",
        "-cf",
        "-",
        ".",
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
  } catch (e) {
    throw new Error(`cannot run tar to pack ${dir} (GNU tar is needed): ${(e as Error).message}`);
  }
  const stderr = new Response(p.stderr).text();
  return p.stdout.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async flush() {
        const st = await p.status;
        if (!st.success) throw new Error(`tar failed packing ${dir}: ${(await stderr).trim()}`);
      },
    }),
  );
}

export function readRootfs(dir: string): SourceImage {
  return {
    source: dir,
    kind: "rootfs",
    config: {},
    layers: [{ what: `the root directory ${dir}`, open: () => tarStream(dir) }],
    origin: { rootfs: dir },
  };
}

export function readTarball(file: string): SourceImage {
  return {
    source: file,
    kind: "tarball",
    config: {},
    layers: [{ what: file, open: () => fileRange(file) }],
    origin: { tarball: file },
  };
}
