/** Reading OCI layouts (umoci fixtures), loading image directories, validating them offline. */
import { assertEquals, assertRejects } from "../../../helpers/assert.ts";
import { ociLayout } from "../../../helpers/oci.ts";
import { readOciLayout } from "../../../../src/cli/image/oci.ts";
import { loadImage } from "../../../../src/cli/image/imagedir.ts";
import { validatePath } from "../../../../src/cli/image/validate.ts";
import { makeSigningIdentity } from "../../../../src/cli/image/keygen.ts";
import { privateKey, signBytes } from "../../../../src/cli/image/sign.ts";
import { canonicalOf } from "../../../../src/cli/image/canonical.ts";

Deno.test("readOciLayout: tags, config, layers; a blob that does not match its digest", async () => {
  const d = await Deno.makeTempDir();
  try {
    const fill = (r: string) => Deno.writeTextFile(`${r}/f`, "x");
    await ociLayout(`${d}/l`, "a", [fill], { entrypoint: ["/bin/a"], env: ["A=1"] });
    await ociLayout(`${d}/l`, "b", [fill], { entrypoint: ["/bin/b"] });
    await assertRejects(() => readOciLayout(`oci:${d}/l`), Error, "holds 2 images");
    await assertRejects(() => readOciLayout(`oci:${d}/l:c`), Error, 'no image tagged "c"');
    await assertRejects(() => readOciLayout(`oci:${d}`), Error, "not an OCI image layout");
    const img = await readOciLayout(`oci:${d}/l:a`);
    assertEquals(img.config.Entrypoint, ["/bin/a"]);
    assertEquals(img.config.Env, ["A=1"]);
    assertEquals(img.layers.length, 1);
    assertEquals(img.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    const cfg = (img.origin.configDigest as string).slice(7);
    await Deno.chmod(`${d}/l/blobs/sha256/${cfg}`, 0o644);
    await Deno.writeTextFile(`${d}/l/blobs/sha256/${cfg}`, "{}");
    await assertRejects(() => readOciLayout(`oci:${d}/l:a`), Error, "does not match its digest");
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("loadImage and validatePath: unsigned, signed, tampered", async () => {
  const d = await Deno.makeTempDir();
  try {
    const m = canonicalOf({
      aconSpecVersion: [1, 0],
      layers: [`sha384/${"a".repeat(96)}`],
      aliases: {},
      entrypoint: ["/bin/sh"],
      workingDir: "/",
      signals: [],
      policy: {},
    });
    await Deno.writeTextFile(`${d}/manifest.json`, m);
    await assertRejects(() => loadImage([d]), Error, "is not signed (no signature)");
    let v = await validatePath(d, "sha384");
    assertEquals(v.problems, []);
    assertEquals(v.notes.length, 2); // not signed; the layer is not in the directory

    const id = makeSigningIdentity({ kind: "ecdsa" });
    const bytes = new TextEncoder().encode(m);
    await Deno.writeFile(
      `${d}/signature`,
      signBytes(bytes, privateKey(new TextEncoder().encode(id.keyPem)), id.certificate),
    );
    await Deno.writeFile(`${d}/signer.cer`, id.certificate);
    await Deno.mkdir(`${d}/layers/sha384`, { recursive: true });
    await Deno.writeTextFile(`${d}/layers/sha384/${"a".repeat(96)}.tar`, "");
    const img = await loadImage([d]);
    assertEquals([...img.layers.keys()], [`sha384/${"a".repeat(96)}`]);
    v = await validatePath(d, "sha384");
    assertEquals([v.problems, v.notes], [[], []]);

    await Deno.writeTextFile(`${d}/manifest.json`, m.replace('"/bin/sh"', '"/bin/ash"'));
    v = await validatePath(d, "sha384");
    assertEquals(v.problems.length, 1);
    assertEquals(v.problems[0].startsWith("Invalid digital signature"), true, v.problems[0]);
    await Deno.writeTextFile(`${d}/manifest.json`, JSON.stringify(JSON.parse(m), null, 1));
    v = await validatePath(d, "sha384");
    assertEquals(v.problems, [
      "Invalid digital signature: manifest is not in canonical form; sign it with aconctl sign",
    ]);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});
