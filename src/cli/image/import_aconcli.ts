/**
 * `aconctl import-aconcli DIR`: pushes the images of an ACON aconcli repository (behaviour file
 * §10.3): `.acon/manifests/<alg>/<digest>/` bundles (acon.json → the manifest, signer.cer,
 * signature) and `.acon/blobs/sha384/<hex>.tar` layers (`blobs/sha256/` links for sha256 refs).
 * Every bundle is verified before anything is sent: the directory name must be the digest of
 * the manifest as aconcli signed it (Go's encoding/json form, canonical.ts goCanonical; jq's
 * form and the file's own bytes are tried too) and the signature must verify with signer.cer.
 * Then, as `aconcli run -A` did, each bundle is added and its missing layers uploaded; a bundle
 * refused (e.g. its policy needs another image first) is retried after the others, until a round
 * makes no progress.
 */
import { ConnectError } from "@connectrpc/connect";
import { printJson, UsageError } from "../command.ts";
import { hexDigest } from "../../digest.ts";
import { isHashAlg } from "../../digest_boot.ts";
import { uploadLayer } from "../images.ts";
import { flags, withHelp } from "./args.ts";
import { canonicalize, goCanonical, utf8 } from "./canonical.ts";
import { addImageManifest, isDirectory, type LoadedImageFiles } from "./imagedir.ts";
import { certificateDer, signerCertificate, verifies } from "./sign.ts";

export interface Bundle {
  dir: string;
  /** Ready to push, or why not. */
  image?: LoadedImageFiles;
  problem?: string;
}

async function repoDir(dir: string): Promise<string> {
  if (dir.replace(/\/+$/, "").endsWith("/.acon") || dir === ".acon") return dir;
  if (await isDirectory(`${dir}/.acon`)) return `${dir}/.acon`;
  throw new Error(`${dir} is not an aconcli repository (no ${dir}/.acon)`);
}

async function blobs(acon: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const alg of ["sha256", "sha384", "sha512"]) {
    try {
      for await (const e of Deno.readDir(`${acon}/blobs/${alg}`)) {
        const m = e.name.match(/^([0-9a-f]+)\.tar$/);
        if (m) out.set(`${alg}/${m[1]}`, `${acon}/blobs/${alg}/${e.name}`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out;
}

async function readBundle(dir: string, alg: string, hex: string, layers: Map<string, string>) {
  const b: Bundle = { dir };
  try {
    const raw = await Deno.readFile(`${dir}/acon.json`);
    const cert = certificateDer(await Deno.readFile(`${dir}/signer.cer`));
    const signature = await Deno.readFile(`${dir}/signature`);
    const certAlg = signerCertificate(cert).alg;
    if (certAlg !== alg) {
      return { ...b, problem: `the certificate names ${certAlg} ids, the bundle is under ${alg}` };
    }
    const text = utf8(raw);
    const forms = [goCanonical(text), canonicalize(text), text];
    const enc = new TextEncoder();
    const match = forms.map((f) => enc.encode(f)).find((bytes) => hexDigest(alg, bytes) === hex);
    if (!match) {
      return {
        ...b,
        problem: "stale: acon.json changed since it was signed (its digest is not the bundle's)",
      };
    }
    if (!verifies(match, signature, cert)) {
      return { ...b, problem: "the signature does not verify with signer.cer" };
    }
    return {
      ...b,
      image: {
        dir,
        manifestPath: `${dir}/acon.json`,
        manifest: match,
        signature,
        certificate: cert,
        layers,
      },
    };
  } catch (e) {
    return { ...b, problem: (e as Error).message };
  }
}

/** Every bundle of the repository, verified. */
export async function readAconcliRepo(dir: string): Promise<Bundle[]> {
  const acon = await repoDir(dir);
  const layers = await blobs(acon);
  const out: Bundle[] = [];
  let algs: string[] = [];
  try {
    for await (const e of Deno.readDir(`${acon}/manifests`)) {
      if (isHashAlg(e.name)) algs.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  algs = algs.sort();
  for (const alg of algs) {
    const names: string[] = [];
    for await (const e of Deno.readDir(`${acon}/manifests/${alg}`)) names.push(e.name);
    for (const hex of names.sort()) {
      out.push(await readBundle(`${acon}/manifests/${alg}/${hex}`, alg, hex, layers));
    }
  }
  return out;
}

export const importAconcliCommand = withHelp({
  name: "import-aconcli",
  usage: "import-aconcli DIR [--verify-only] [--quiet]",
  summary: "verify the bundles of an aconcli repository (DIR/.acon) and push them to acond",
  help: `Reads DIR/.acon (or DIR itself when it is the .acon directory): every bundle
manifests/<alg>/<digest>/ must be intact (its manifest's digest is the directory name, its
signature verifies with its signer.cer); nothing is pushed unless all are. Then each bundle is
added (AddManifest) with its missing layers from blobs/, retrying refused ones after the others
until no more can be added. Prints one image id per line.

  --verify-only   check the bundles, push nothing
  --quiet, -q     no upload progress
  --json          print [{bundle, imageId | error}] as JSON`,
  async run(c) {
    const { values, positionals } = flags(c.args, {
      "verify-only": { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
    });
    if (positionals.length !== 1) throw new UsageError("import-aconcli needs one DIR");
    const bundles = await readAconcliRepo(positionals[0]);
    if (bundles.length === 0) throw new Error(`${positionals[0]} has no bundles`);
    const bad = bundles.filter((b) => b.problem);
    if (bad.length) {
      throw new Error(
        `${bad.length} of ${bundles.length} bundles are not intact (nothing pushed):\n` +
          bad.map((b) => `  - ${b.dir}: ${b.problem}`).join("\n"),
      );
    }
    if (values["verify-only"]) {
      if (c.json) printJson(bundles.map((b) => ({ bundle: b.dir, verified: true })));
      else for (const b of bundles) console.log(`verified ${b.dir}`);
      return 0;
    }
    const client = c.client();
    const results = new Map<string, { imageId?: string; error?: string }>();
    let pending = bundles;
    while (pending.length) {
      const failed: Bundle[] = [];
      for (const b of pending) {
        const img = b.image!;
        try {
          const r = await addImageManifest(client, img);
          const unresolved: string[] = [];
          for (const missing of r.missingLayers) {
            const file = img.layers.get(missing);
            if (!file) unresolved.push(missing);
            else await uploadLayer(client, file, missing, values.quiet ?? false);
          }
          results.set(b.dir, {
            imageId: r.imageId,
            error: unresolved.length
              ? `no layer in blobs/ for ${unresolved.join(", ")}`
              : undefined,
          });
        } catch (e) {
          if (!(e instanceof ConnectError)) throw e;
          results.set(b.dir, { error: e.rawMessage });
          failed.push(b);
        }
      }
      if (failed.length === pending.length) break; // no progress
      pending = failed;
    }
    const rows = bundles.map((b) => ({ bundle: b.dir, ...results.get(b.dir) }));
    if (c.json) printJson(rows);
    else {
      for (const r of rows) {
        if (r.imageId) console.log(r.imageId);
        if (r.error) console.error(`aconctl import-aconcli: ${r.bundle}: ${r.error}`);
      }
    }
    return rows.some((r) => r.error) ? 1 : 0;
  },
});
