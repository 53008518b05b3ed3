/**
 * `aconctl manifest validate FILE|DIR`: acond's own manifest rules (image/manifest.ts
 * manifestProblems: format, then what Start requires), offline, every problem at once; for an
 * image directory also the certificate, the signature over the manifest's exact bytes, and which
 * layers are not in the directory.
 */
import { printJson, UsageError } from "../command.ts";
import { parseLayerRef } from "../../image/ids.ts";
import { checkManifestFormat, manifestProblems } from "../../image/manifest.ts";
import { parseCertificate } from "../../image/cert.ts";
import { DEFAULT_OVERFLOW_UID } from "../../image/start_rules.ts";
import { exists, flags, intFlag, readBytes, withHelp } from "./args.ts";
import { CanonicalError, isCanonical, utf8 } from "./canonical.ts";
import {
  CERT_FILE,
  isDirectory,
  layerFile,
  MANIFEST_FILE,
  NOT_CANONICAL,
  SIGNATURE_FILE,
} from "./imagedir.ts";
import { minHashFlag } from "./sign.ts";
import { certificateDer, verifies } from "./sign.ts";
import type { HashAlg } from "../../digest.ts";

export interface Validation {
  path: string;
  /** What acond would refuse (AddManifest reports the first). */
  problems: string[];
  /** Worth knowing, not refused. */
  notes: string[];
}

export async function validatePath(
  path: string,
  minHash: HashAlg,
  overflowUid = DEFAULT_OVERFLOW_UID,
): Promise<Validation> {
  const dir = await isDirectory(path) ? path : undefined;
  const manifestPath = dir ? `${dir}/${MANIFEST_FILE}` : path;
  const bytes = await readBytes(manifestPath, "manifest");
  const out: Validation = { path: manifestPath, problems: [], notes: [] };
  let text: string;
  try {
    text = utf8(bytes);
  } catch (e) {
    if (!(e instanceof CanonicalError)) throw e;
    out.problems.push(`Invalid manifest: ${e.message}`);
    return out;
  }
  out.problems.push(...manifestProblems(text, minHash, overflowUid));
  const canonical = isCanonical(text);
  if (!dir) {
    if (!canonical) out.notes.push("not in canonical form yet (aconctl sign rewrites it)");
    return out;
  }
  const signed = await exists(`${dir}/${SIGNATURE_FILE}`);
  if (!signed) out.notes.push("not signed yet (aconctl sign)");
  else {
    const cert = certificateDer(await readBytes(`${dir}/${CERT_FILE}`, "certificate"));
    try {
      parseCertificate(cert, minHash);
      const sig = await readBytes(`${dir}/${SIGNATURE_FILE}`, "signature");
      if (!verifies(bytes, sig, cert)) {
        out.problems.push(
          canonical
            ? `Invalid digital signature: ${SIGNATURE_FILE} does not verify over ${MANIFEST_FILE} with ${CERT_FILE}`
            : `Invalid digital signature: ${NOT_CANONICAL}`,
        );
      }
    } catch (e) {
      out.problems.push((e as Error).message);
    }
  }
  for (const l of checkManifestFormat(text, minHash).fields.layers ?? []) {
    const ref = parseLayerRef(l);
    if (typeof ref === "string" || ref.kind !== "digest") continue;
    if (!(await exists(layerFile(dir, l)))) {
      out.notes.push(`layer ${l} is not in ${dir} (push needs it unless acond has it)`);
    }
  }
  return out;
}

export const manifestCommand = withHelp({
  name: "manifest",
  usage: "manifest validate FILE|DIR [--min-hash ALG] [--overflow-uid N]",
  summary: "check a manifest offline with acond's rules; lists every problem",
  help: `Applies the rules AddManifest applies (docs/manifest.md): the format of every field, then
what container Start requires (entrypoint, env rules, uids). Every problem is listed, not just
the first. For an image directory, also the certificate, the signature over manifest.json's exact
bytes, and the layers that are not in the directory. Exit status 0 when acond would accept it
(the launch policy against other images aside), 1 when not.

  --min-hash ALG      the daemon's --min-hash (default sha384)
  --overflow-uid N    the VM kernel's overflow uid (default ${DEFAULT_OVERFLOW_UID})
  --json              print {path, valid, problems, notes} as JSON`,
  async run(c) {
    const { values, positionals } = flags(c.args, {
      "min-hash": { type: "string" },
      "overflow-uid": { type: "string" },
    });
    const [sub, path, ...more] = positionals;
    if (sub !== "validate") throw new UsageError("the manifest subcommand is: validate FILE|DIR");
    if (!path || more.length) throw new UsageError("manifest validate needs one FILE or DIR");
    const v = await validatePath(
      path,
      minHashFlag(values["min-hash"]),
      intFlag("overflow-uid", values["overflow-uid"], 1, 0xfffffffe),
    );
    if (c.json) {
      printJson({
        path: v.path,
        valid: v.problems.length === 0,
        problems: v.problems,
        notes: v.notes,
      });
    } else {
      const n = v.problems.length;
      console.log(n ? `${v.path}: ${n} problem${n > 1 ? "s" : ""}` : `${v.path}: valid`);
      for (const p of v.problems) console.log(`  - ${p}`);
      for (const note of v.notes) console.log(`  note: ${note}`);
    }
    return v.problems.length ? 1 : 0;
  },
});
