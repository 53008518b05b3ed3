/**
 * A busybox image for container tests, built at test time from Debian's busybox-static
 * (/bin/busybox): a rootfs directory with every applet linked, public entry points in
 * /lib/acon/entrypoint.d/, packed into a real tar with GNU tar. `prepareImage` installs it into a
 * state directory the way the image and blob modules do (contents/sha384/<hex>, images/<id>/l/0),
 * for tests of the container machinery that do not go through AddManifest/AddBlob.
 */
import type { LoadedImage, Manifest } from "../../src/state.ts";
import { Layout } from "../../src/layout.ts";

export const BUSYBOX = "/bin/busybox";

async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<Uint8Array> {
  const r = await new Deno.Command(cmd, { args, cwd: opts.cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
  return r.stdout;
}

/** Public entry points (name → script); scripts run under /bin/sh. */
export const ENTRYPOINTS: Record<string, string> = {
  Echo: 'echo "$@"',
  Cat: "cat",
  Id: 'echo "uid=$(id -u) gid=$(id -g) pwd=$(pwd) pid=$$"',
  Env: "env | sort",
  Big: 'i=0; while [ $i -lt "$1" ]; do echo "line $i"; i=$((i+1)); done',
  Sleep: 'echo started; sleep "$1"; echo done',
  Stderr: 'echo out; echo err >&2; exit "${1:-0}"',
  Spawn: 'sleep "$1" & echo $!',
  Sh: 'sh -c "$1"',
  lower: "echo private",
};

/**
 * A tiny static Unix-socket tool for /shared tests (busybox has no Unix-socket client):
 *   usock serve PATH MODE   bind PATH, chmod it to octal MODE, accept one peer, copy it to stdout
 *   usock send PATH TEXT    connect and send TEXT (exit 2 with the errno name on failure)
 */
const USOCK_C = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 4) return 64;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (!strcmp(argv[1], "serve")) {
    unlink(argv[2]);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || chmod(argv[2], strtol(argv[3], 0, 8)) || listen(s, 1)) return 1;
    printf("listening\\n");
    fflush(stdout);
    int c = accept(s, 0, 0);
    char buf[256];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    return 0;
  }
  if (connect(s, (struct sockaddr *)&a, sizeof a)) {
    printf("%s\\n", strerror(errno));
    return 2;
  }
  return write(s, argv[3], strlen(argv[3])) < 0;
}
`;

/** Compiles usock (static, so it runs in a busybox image) to `out`. */
export async function buildUsock(out: string): Promise<void> {
  const src = `${out}.c`;
  await Deno.writeTextFile(src, USOCK_C);
  await run("gcc", ["-static", "-O2", "-o", out, src]);
  await Deno.remove(src);
}

/** Writes a busybox rootfs into dir (created). `extra` adds files: path → [mode, content]. */
export async function buildRootfs(
  dir: string,
  extra: Record<string, [number, string]> = {},
): Promise<void> {
  for (const d of ["bin", "etc", "lib/acon/entrypoint.d", "root", "work", "usr/bin"]) {
    await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  }
  await Deno.copyFile(BUSYBOX, `${dir}/bin/busybox`);
  await Deno.chmod(`${dir}/bin/busybox`, 0o755);
  const list = new TextDecoder().decode(await run(BUSYBOX, ["--list"])).split("\n").filter(
    (a) => a && a !== "busybox",
  );
  for (const applet of list) await Deno.symlink("busybox", `${dir}/bin/${applet}`);
  await Deno.writeTextFile(
    `${dir}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/work:/bin/sh\n",
  );
  await Deno.writeTextFile(`${dir}/etc/group`, "root:x:0:\nuser:x:1000:\n");
  for (const [name, body] of Object.entries(ENTRYPOINTS)) {
    const p = `${dir}/lib/acon/entrypoint.d/${name}`;
    await Deno.writeTextFile(p, `#!/bin/sh\n${body}\n`);
    await Deno.chmod(p, 0o755);
  }
  for (const [path, [mode, content]] of Object.entries(extra)) {
    const p = `${dir}/${path}`;
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(p, content);
    await Deno.chmod(p, mode);
  }
}

/** A real tar of dir (GNU tar, numeric owner 0). */
export async function tarOf(dir: string): Promise<Uint8Array> {
  return await run("tar", [
    "-C",
    dir,
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--sort=name",
    "-cf",
    "-",
    ".",
  ]);
}

export async function sha384hex(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-384", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A manifest for busybox images; override any field. */
export function busyboxManifest(layers: string[], over: Partial<Manifest> = {}): Manifest {
  return {
    aconSpecVersion: [1, 0],
    layers,
    aliases: { contents: {}, self: {} },
    entrypoint: ["/bin/sleep", "1000"],
    env: ["PATH=/bin"],
    workingDir: "/",
    uids: [],
    logFDs: [],
    writableFS: false,
    noRestart: false,
    signals: [15, -15, 9, -9, 10, 0],
    maxInstances: 0,
    policy: { accepts: [], rejectUnaccepted: false },
    ...over,
  };
}

let imageSeq = 0;

/**
 * Installs a layer (extracted by real tar from `tar`) and an image into a state root, returning
 * the LoadedImage the image module would have produced (a fake signer; no signature involved).
 */
export async function prepareImage(
  root: string,
  layerTars: Uint8Array[],
  over: Partial<Manifest> = {},
): Promise<LoadedImage> {
  const layout = new Layout(root);
  const layers: string[] = [];
  for (const t of layerTars) {
    const hex = await sha384hex(t);
    layers.push(`sha384/${hex}`);
    const dir = layout.layerDir(hex);
    try {
      await Deno.stat(dir);
      continue;
    } catch { /* extract below */ }
    await Deno.mkdir(dir, { recursive: true });
    const tmp = await Deno.makeTempFile();
    await Deno.writeFile(tmp, t);
    await run("tar", ["-C", dir, "--numeric-owner", "-xpf", tmp]);
    await Deno.remove(tmp);
  }
  const manifest = busyboxManifest(layers, over);
  const raw = new TextEncoder().encode(JSON.stringify(manifest) + String(imageSeq++));
  const manifestDigest = await sha384hex(raw);
  const signerDigest = "0".repeat(96);
  const id = `sha384/${signerDigest}/${manifestDigest}`;
  const idir = layout.imageDir(id);
  await Deno.mkdir(`${idir}/l`, { recursive: true });
  layers.forEach((l, i) => Deno.symlinkSync(layout.layerDir(l.split("/")[1]), `${idir}/l/${i}`));
  return {
    id,
    alg: "sha384",
    signerDigest,
    manifestDigest,
    manifest,
    raw,
    certificate: new Uint8Array(),
  };
}
