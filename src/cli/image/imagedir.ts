/**
 * An ACON image on disk: a directory holding
 *   manifest.json           the manifest, canonical (`jq -jcS .`) once signed
 *   signature               the raw signature over manifest.json's bytes (aconctl sign)
 *   signer.cer              the signer's certificate, DER (aconctl sign)
 *   layers/<alg>/<hex>.tar  the layers, plain tars named by their digest (sha384 from generate)
 *   origin.json             where generate made it from (an OCI digest...), not signed
 * loadImage reads one, or the explicit files (MANIFEST SIGNATURE CERT [LAYER.tar...]), for push
 * and run.
 */
import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AconClient } from "../client.ts";
import { UsageError } from "../command.ts";
import { MSG } from "../../errors.ts";
import { readBytes } from "./args.ts";
import { isCanonical } from "./canonical.ts";

export const MANIFEST_FILE = "manifest.json";
export const SIGNATURE_FILE = "signature";
export const CERT_FILE = "signer.cer";
export const ORIGIN_FILE = "origin.json";
export const LAYERS_DIR = "layers";

/** Where an image directory keeps the layer `alg/hex`. */
export function layerFile(dir: string, ref: string): string {
  return `${dir}/${LAYERS_DIR}/${ref}.tar`;
}

export interface LoadedImageFiles {
  /** The image directory, when the image is one. */
  dir?: string;
  manifestPath: string;
  /** The manifest bytes exactly as on disk (what is signed and sent). */
  manifest: Uint8Array;
  signature: Uint8Array;
  certificate: Uint8Array;
  /** Layer files by reference (`sha384/<hex>`). */
  layers: Map<string, string>;
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** The layers of an image directory, by reference, as their file names say. */
export async function dirLayers(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const alg of ["sha256", "sha384", "sha512"]) {
    try {
      for await (const e of Deno.readDir(`${dir}/${LAYERS_DIR}/${alg}`)) {
        const m = e.name.match(/^([0-9a-f]+)\.tar$/);
        if (m && (e.isFile || e.isSymlink)) {
          out.set(`${alg}/${m[1]}`, `${dir}/${LAYERS_DIR}/${alg}/${e.name}`);
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out;
}

/** sha384 of a file, streamed. */
export async function sha384File(path: string): Promise<string> {
  const h = createHash("sha384");
  const f = await Deno.open(path);
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

/** A signed image directory. */
export async function loadImageDir(dir: string): Promise<LoadedImageFiles> {
  const manifestPath = `${dir}/${MANIFEST_FILE}`;
  const manifest = await readBytes(manifestPath, "manifest");
  const need = async (file: string) => {
    try {
      return await Deno.readFile(`${dir}/${file}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `${dir} is not signed (no ${file}): run aconctl sign ${dir} --key KEY --cert CERT`,
        );
      }
      throw e;
    }
  };
  return {
    dir,
    manifestPath,
    manifest,
    signature: await need(SIGNATURE_FILE),
    certificate: await need(CERT_FILE),
    layers: await dirLayers(dir),
  };
}

/**
 * An image from command-line arguments: `DIR [LAYER.tar...]` or
 * `MANIFEST SIGNATURE CERT [LAYER.tar...]`. Extra layer files are named by their sha384.
 */
export async function loadImage(args: string[]): Promise<LoadedImageFiles> {
  if (args.length === 0) throw new UsageError("give an image directory or MANIFEST SIGNATURE CERT");
  let img: LoadedImageFiles;
  let extra: string[];
  if (await isDirectory(args[0])) {
    img = await loadImageDir(args[0]);
    extra = args.slice(1);
  } else {
    const [m, s, cert] = args;
    if (!cert) {
      throw new UsageError(
        `${args[0]} is not a directory: give an image directory or MANIFEST SIGNATURE CERT`,
      );
    }
    img = {
      manifestPath: m,
      manifest: await readBytes(m, "manifest"),
      signature: await readBytes(s, "signature"),
      certificate: await readBytes(cert, "certificate"),
      layers: new Map(),
    };
    extra = args.slice(3);
  }
  for (const l of extra) img.layers.set(`sha384/${await sha384File(l)}`, l);
  return img;
}

export const NOT_CANONICAL = "manifest is not in canonical form; sign it with aconctl sign";

/**
 * AddManifest of a loaded image. A signature refused over a manifest that is not in canonical
 * form (reformatted or edited after signing, or never signed by aconctl) is reported as that.
 */
export async function addImageManifest(client: AconClient, img: LoadedImageFiles) {
  const manifest = new TextDecoder().decode(img.manifest);
  try {
    return await client.addManifest({
      manifest,
      signature: img.signature,
      certificate: img.certificate,
    });
  } catch (e) {
    if (
      e instanceof ConnectError && e.code === Code.InvalidArgument &&
      e.rawMessage.startsWith(MSG.badSignature) && !isCanonical(manifest)
    ) {
      throw new Error(
        `${NOT_CANONICAL} (${img.manifestPath}; acond: ${e.rawMessage})`,
        { cause: e },
      );
    }
    throw e;
  }
}
