/**
 * `aconctl generate --out DIR SOURCE`: an ACON image directory (imagedir.ts) from an OCI image
 * layout, a docker-archive, a root directory or a tarball. Layers are decompressed and stored as
 * plain tars named by sha384 (checked against the source's digests as they stream); the manifest
 * takes the image config's Entrypoint + Cmd, Env and WorkingDir with aconcli's defaults for the
 * rest (docs/manifest.md), every field can be set by a flag, and it is checked with acond's rules
 * before any layer is written. origin.json records where the image came from (not signed).
 */
import { printJson, UsageError } from "../command.ts";
import { manifestProblems } from "../../image/manifest.ts";
import { exists, flags, intFlag, withHelp } from "./args.ts";
import { canonicalOf } from "./canonical.ts";
import { readDockerArchive } from "./docker_archive.ts";
import { LAYERS_DIR, MANIFEST_FILE, ORIGIN_FILE } from "./imagedir.ts";
import { writeLayer, type WrittenLayer } from "./layers.ts";
import { readOciLayout } from "./oci.ts";
import { readRootfs, readTarball } from "./rootfs.ts";
import { minHashFlag, problemsError, writeAtomic } from "./sign.ts";
import type { ImageConfig, SourceImage } from "./source.ts";

/** Signal names `--signal` takes besides numbers (a leading `-` sends to the process group). */
const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  KILL: 9,
  USR1: 10,
  USR2: 12,
  TERM: 15,
};

export function parseSignal(s: string): number {
  const neg = s.startsWith("-");
  const body = (neg ? s.slice(1) : s).toUpperCase().replace(/^SIG/, "");
  const n = /^[0-9]+$/.test(body) ? Number(body) : SIGNALS[body];
  if (n === undefined || n > 64) {
    throw new UsageError(
      `--signal takes a number or ${Object.keys(SIGNALS).join(", ")}, not "${s}"`,
    );
  }
  return neg ? -n : n;
}

/** A flag that is a JSON array of strings, or one string (one argv entry). */
export function argvFlag(name: string, v: string): string[] {
  if (!v.trimStart().startsWith("[")) return [v];
  let a: unknown;
  try {
    a = JSON.parse(v);
  } catch (e) {
    throw new UsageError(`--${name}: not a JSON array: ${(e as Error).message}`);
  }
  if (!Array.isArray(a) || a.some((x) => typeof x !== "string")) {
    throw new UsageError(`--${name} must be a JSON array of strings or one string`);
  }
  return a;
}

export interface ManifestFlags {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  noImageEnv?: boolean;
  workdir?: string;
  uids?: number[];
  logFDs?: number[];
  writableFS?: boolean;
  noRestart?: boolean;
  signals?: number[];
  maxInstances?: number;
  accepts?: string[];
  rejectUnaccepted?: boolean;
  aliases?: string[];
  contentAliases?: [string, string][];
  baseLayers?: string[];
  specVersion?: [number, number];
}

/**
 * The manifest for an image config and its layers (bottom to top). aconcli's defaults: version
 * [1,0], env from the config, workingDir the config's or "/", maxInstances 1, no uids, log fds,
 * signals or policy; unlike aconcli, Cmd is appended to Entrypoint (as docker runs them), and
 * `--entrypoint` drops the config's Cmd (as `docker run --entrypoint` does).
 */
export function manifestFor(config: ImageConfig, layers: string[], f: ManifestFlags) {
  const entrypoint = f.entrypoint ?? config.Entrypoint ?? [];
  const cmd = f.cmd ?? (f.entrypoint ? [] : config.Cmd ?? []);
  const contents: Record<string, string[]> = {};
  for (const [obj, name] of f.contentAliases ?? []) (contents[obj] ??= []).push(name);
  const aliases: Record<string, unknown> = {};
  if (Object.keys(contents).length) aliases.contents = contents;
  if (f.aliases?.length) aliases.self = { ".": f.aliases };
  return {
    aconSpecVersion: f.specVersion ?? [1, 0],
    layers: [...(f.baseLayers ?? []), ...layers],
    aliases,
    entrypoint: [...entrypoint, ...cmd],
    env: [...(f.noImageEnv ? [] : config.Env ?? []), ...(f.env ?? [])],
    workingDir: f.workdir ?? (config.WorkingDir || "/"),
    uids: f.uids ?? [],
    logFDs: f.logFDs ?? [],
    writableFS: f.writableFS ?? false,
    noRestart: f.noRestart ?? false,
    signals: f.signals ?? [],
    maxInstances: f.maxInstances ?? 1,
    policy: { accepts: f.accepts ?? [], rejectUnaccepted: f.rejectUnaccepted ?? false },
  };
}

export async function openSource(source: string): Promise<SourceImage> {
  if (source.startsWith("oci:")) return await readOciLayout(source);
  if (source.startsWith("docker-archive:")) return await readDockerArchive(source);
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(source);
  } catch (e) {
    throw new UsageError(
      `no such source ${source} (give oci:DIR[:TAG], docker-archive:FILE[:TAG], a root ` +
        `directory or a tarball): ${(e as Error).message}`,
    );
  }
  if (st.isDirectory) {
    if (await exists(`${source}/oci-layout`)) {
      throw new UsageError(`${source} is an OCI image layout: give it as oci:${source}`);
    }
    return readRootfs(source);
  }
  return readTarball(source);
}

const HELP = `SOURCE is one of
  oci:DIR[:TAG]               an OCI image layout (umoci, skopeo copy ... oci:DIR:TAG, buildah)
  docker-archive:FILE[:TAG]   a docker save / podman save / skopeo docker-archive tar
  DIR                         a root directory (packed with GNU tar)
  FILE                        a tarball (plain, gzip or zstd): one layer
DIR gets ${MANIFEST_FILE} (canonical), ${LAYERS_DIR}/sha384/<hex>.tar and ${ORIGIN_FILE} (the
source's digests and tags; not signed). Then: aconctl sign DIR --key KEY --cert CERT.

Manifest fields (docs/manifest.md; defaults in brackets):
  --entrypoint JSON|PATH   entrypoint [the image's Entrypoint + Cmd]; drops the image's Cmd
  --cmd JSON|ARG           arguments after the entrypoint [the image's Cmd]
  --env RULE               an env rule, repeatable (K=V, K=, K) [the image's Env, then these]
  --no-image-env           leave out the image's Env
  --workdir DIR            workingDir [the image's WorkingDir, or /]
  --uid N                  uids, repeatable [none]
  --log-fd N               logFDs, repeatable [none]
  --writable-fs            writableFS [false]
  --no-restart             noRestart [false]
  --signal SIG             signals, repeatable: a number or HUP INT QUIT KILL USR1 USR2 TERM, a
                           leading - for the process group; the first is Restart's [none]
  --max-instances N        maxInstances [1]
  --accept PATTERN         policy.accepts, repeatable [none]
  --reject-unaccepted      policy.rejectUnaccepted [false]
  --alias NAME             aliases.self["."], repeatable [none]
  --content-alias REF=NAME aliases.contents, repeatable [none]
  --base-layer REF         a layer below the source's (e.g. signer/sha384/<hex>/Base:1) [none]
  --spec-version M.N       aconSpecVersion [1.0]
Other:
  --min-hash ALG           the daemon's --min-hash the manifest is checked against [sha384]
  --force                  write into a DIR that is not empty (its signature is removed)
  --json                   print {dir, manifest, layers, origin} as JSON`;

function ints(name: string, vs: string[] | undefined, min: number, max: number) {
  return vs?.map((v) => intFlag(name, v, min, max)!);
}

export const generateCommand = withHelp({
  name: "generate",
  usage: "generate --out DIR SOURCE [manifest flags]",
  summary: "make an ACON image directory from an OCI layout, docker-archive, root dir or tarball",
  help: HELP,
  async run(c) {
    const { values: v, positionals } = flags(c.args, {
      out: { type: "string", short: "o" },
      entrypoint: { type: "string" },
      cmd: { type: "string" },
      env: { type: "string", multiple: true },
      "no-image-env": { type: "boolean" },
      workdir: { type: "string" },
      uid: { type: "string", multiple: true },
      "log-fd": { type: "string", multiple: true },
      "writable-fs": { type: "boolean" },
      "no-restart": { type: "boolean" },
      signal: { type: "string", multiple: true },
      "max-instances": { type: "string" },
      accept: { type: "string", multiple: true },
      "reject-unaccepted": { type: "boolean" },
      alias: { type: "string", multiple: true },
      "content-alias": { type: "string", multiple: true },
      "base-layer": { type: "string", multiple: true },
      "spec-version": { type: "string" },
      "min-hash": { type: "string" },
      force: { type: "boolean" },
    });
    if (!v.out) throw new UsageError("generate needs --out DIR");
    if (positionals.length !== 1) throw new UsageError("generate needs one SOURCE");
    const spec = v["spec-version"];
    if (spec !== undefined && !/^[0-9]+\.[0-9]+$/.test(spec)) {
      throw new UsageError(`--spec-version is MAJOR.MINOR, not "${spec}"`);
    }
    const mf: ManifestFlags = {
      entrypoint: v.entrypoint !== undefined ? argvFlag("entrypoint", v.entrypoint) : undefined,
      cmd: v.cmd !== undefined ? argvFlag("cmd", v.cmd) : undefined,
      env: v.env,
      noImageEnv: v["no-image-env"],
      workdir: v.workdir,
      uids: ints("uid", v.uid, 0, 0xffffffff),
      logFDs: ints("log-fd", v["log-fd"], 0, 0x7fffffff),
      writableFS: v["writable-fs"],
      noRestart: v["no-restart"],
      signals: v.signal?.map(parseSignal),
      maxInstances: intFlag("max-instances", v["max-instances"], 0, Number.MAX_SAFE_INTEGER),
      accepts: v.accept,
      rejectUnaccepted: v["reject-unaccepted"],
      aliases: v.alias,
      contentAliases: v["content-alias"]?.map((s) => {
        const i = s.lastIndexOf("=");
        if (i <= 0) throw new UsageError(`--content-alias is REF=NAME, not "${s}"`);
        return [s.slice(0, i), s.slice(i + 1)];
      }),
      baseLayers: v["base-layer"],
      specVersion: spec ? spec.split(".").map(Number) as [number, number] : undefined,
    };
    const minHash = minHashFlag(v["min-hash"]);
    const out = v.out;
    const created = !(await exists(out));
    if (!created) {
      const entries = [];
      for await (const e of Deno.readDir(out)) entries.push(e.name);
      if (entries.length && !v.force) {
        throw new Error(`${out} is not empty (give --force to write into it)`);
      }
    }
    const src = await openSource(positionals[0]);
    // The manifest is checked before any layer is written (placeholder digests of the right form).
    const placeholder = src.layers.map((_, i) => `sha384/${i.toString(16).padStart(96, "0")}`);
    const early = manifestProblems(canonicalOf(manifestFor(src.config, placeholder, mf)), minHash);
    if (early.length) {
      const hint = src.kind === "rootfs" || src.kind === "tarball"
        ? " (a root directory or tarball has no image config: give --entrypoint)"
        : "";
      throw problemsError(`the manifest for ${src.source}${hint}`, early);
    }
    await Deno.mkdir(out, { recursive: true });
    try {
      const written: WrittenLayer[] = [];
      for (const l of src.layers) {
        const w = await writeLayer(out, l.open(), l.what);
        if (l.blobDigest && l.blobDigest.startsWith("sha256:") && w.blobDigest !== l.blobDigest) {
          throw new Error(`${l.what} does not match its digest ${l.blobDigest} (${w.blobDigest})`);
        }
        if (l.diffId && w.diffId !== l.diffId) {
          throw new Error(`${l.what}: its tar is ${w.diffId}, the image config says ${l.diffId}`);
        }
        written.push(w);
      }
      // A layer twice (an empty layer, a re-added one): the topmost stays, which changes nothing
      // in the merged tree (it is above every other copy), and acond refuses duplicates.
      const refs = written.map((w) => w.ref).filter((r, i, all) => all.lastIndexOf(r) === i);
      const manifest = manifestFor(src.config, refs, mf);
      const text = canonicalOf(manifest);
      const problems = manifestProblems(text, minHash);
      if (problems.length) throw problemsError(`the manifest for ${src.source}`, problems);
      for (const f of ["signature", "signer.cer"]) await Deno.remove(`${out}/${f}`).catch(() => {});
      await writeAtomic(`${out}/${MANIFEST_FILE}`, new TextEncoder().encode(text));
      const origin = {
        generatedBy: "aconctl generate",
        source: src.source,
        kind: src.kind,
        ...src.origin,
        layers: src.layers.map((l, i) => ({
          acon: written[i].ref,
          diffId: written[i].diffId,
          blob: l.blobDigest ?? written[i].blobDigest,
          mediaType: l.mediaType,
          compression: written[i].compression,
        })),
      };
      await writeAtomic(
        `${out}/${ORIGIN_FILE}`,
        new TextEncoder().encode(JSON.stringify(origin, null, 2) + "\n"),
      );
      if (src.config.User && !/^(0|root)(:(0|root))?$/.test(src.config.User)) {
        console.error(
          `aconctl generate: note: the image config's User is "${src.config.User}"; acond runs ` +
            "the entrypoint as the container's root (map users with --uid)",
        );
      }
      if (c.json) printJson({ dir: out, manifest, layers: refs, origin });
      else {
        console.log(`${out}/${MANIFEST_FILE}`);
        for (const r of refs) console.log(`  layer ${r}`);
        console.log(`next: aconctl sign ${out} --key KEY --cert CERT`);
      }
      return 0;
    } catch (e) {
      if (created) await Deno.remove(out, { recursive: true }).catch(() => {});
      throw e;
    }
  },
});
