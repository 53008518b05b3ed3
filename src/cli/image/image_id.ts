/** `aconctl image-id DIR | MANIFEST CERT`: the image id exactly as acond computes it (ids.ts). */
import { printJson, UsageError } from "../command.ts";
import { computeImageId } from "../../image/ids.ts";
import { readBytes, withHelp } from "./args.ts";
import { isCanonical } from "./canonical.ts";
import { CERT_FILE, isDirectory, MANIFEST_FILE } from "./imagedir.ts";
import { certificateDer, signerCertificate } from "./sign.ts";

export const imageIdCommand = withHelp({
  name: "image-id",
  usage: "image-id DIR | MANIFEST CERT",
  summary: "print the image id acond gives this manifest and signer (alg/signer/manifest)",
  help: `The id is alg/hex(alg(certificate DER))/hex(alg(manifest bytes)), alg being the hash of the
certificate's signature algorithm (sha384 for aconctl keygen's default, sha512 for Ed25519). It
is over the manifest bytes exactly as they are: a manifest that is not yet canonical gets another
id once aconctl sign has rewritten it (a note on stderr says so).

  --json   print {imageId, alg, signerDigest, manifestDigest, canonical} as JSON`,
  async run(c) {
    const args = c.args;
    let manifestPath: string, certPath: string;
    if (args.length === 1 && await isDirectory(args[0])) {
      manifestPath = `${args[0]}/${MANIFEST_FILE}`;
      certPath = `${args[0]}/${CERT_FILE}`;
    } else if (args.length === 2) {
      [manifestPath, certPath] = args;
    } else throw new UsageError("image-id needs an image directory, or MANIFEST CERT");
    const manifest = await readBytes(manifestPath, "manifest");
    const cert = certificateDer(await readBytes(certPath, "certificate"));
    const ids = computeImageId(signerCertificate(cert).alg, cert, manifest);
    const canonical = isCanonical(new TextDecoder().decode(manifest));
    if (c.json) {
      printJson({
        imageId: ids.id,
        alg: ids.alg,
        signerDigest: ids.signerDigest,
        manifestDigest: ids.manifestDigest,
        canonical,
      });
    } else console.log(ids.id);
    if (!canonical) {
      console.error(
        `aconctl image-id: note: ${manifestPath} is not in canonical form; aconctl sign will ` +
          "rewrite it, and the id will change",
      );
    }
    return 0;
  },
});
