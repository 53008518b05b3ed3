/**
 * AddManifest / Finalize / GetManifest against the real dist/acond --dev, over curl (Connect
 * JSON) and connect-es (Connect binary, gRPC-web). Keys, certificates and signatures come from
 * real openssl; IDs are recomputed here with `openssl dgst`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { type DevDaemon, startDaemon, type TransportKind } from "../helpers/daemon.ts";
import { makeSigner, type Signer, type SignerKind } from "../helpers/pki.ts";
import {
  baseManifest,
  expectedImageId,
  MALFORMED_MANIFESTS,
  opensslHex,
  type SignedManifest,
  signedManifest,
  UNSTARTABLE_MANIFESTS,
} from "../helpers/image.ts";

const ADD_LINE = "github.com/intel/ACON AddManifest ";
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

type Via = "curl" | TransportKind;
const VIAS: Via[] = ["curl", "connect-binary", "grpc-web", "connect-json"];

interface Outcome {
  ok: boolean;
  imageId?: string;
  missingLayers?: string[];
  /** Connect code name (e.g. invalid_argument) and message on failure. */
  code?: string;
  message?: string;
}

const CODE_NAMES: Partial<Record<Code, string>> = {
  [Code.InvalidArgument]: "invalid_argument",
  [Code.PermissionDenied]: "permission_denied",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.Internal]: "internal",
};

async function add(d: DevDaemon, m: SignedManifest, via: Via = "connect-binary"): Promise<Outcome> {
  if (via === "curl") {
    const r = await d.curl("AddManifest", {
      manifest: m.manifest,
      signature: b64(m.signature),
      certificate: b64(m.certificate),
    });
    const body = r.body as Record<string, unknown>;
    if (r.status === 200) {
      return {
        ok: true,
        imageId: body.imageId as string,
        missingLayers: (body.missingLayers as string[] | undefined) ?? [],
      };
    }
    return { ok: false, code: body.code as string, message: body.message as string };
  }
  try {
    const r = await d.client(via).addManifest(m);
    return { ok: true, imageId: r.imageId, missingLayers: r.missingLayers };
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    return { ok: false, code: CODE_NAMES[e.code] ?? String(e.code), message: e.rawMessage };
  }
}

async function logLines(d: DevDaemon): Promise<string[]> {
  try {
    return (await Deno.readTextFile(`${d.root}/rtmr/rtmr3.log`)).split("\n").filter((l) => l);
  } catch {
    return [];
  }
}

/** Every path under the root with its type, link target or content digest. */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  async function visit(dir: string, rel: string) {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      const r = `${rel}${e.name}`;
      if (e.isSymlink) out.push(`${r} -> ${await Deno.readLink(p)}`);
      else if (e.isDirectory) {
        out.push(`${r}/`);
        await visit(p, `${r}/`);
      } else if (e.isFile) out.push(`${r} ${await opensslHex("sha256", await Deno.readFile(p))}`);
      else out.push(`${r} (special)`);
    }
  }
  await visit(root, "");
  return out.sort();
}

let nonce = 0;
function unique(overrides: Record<string, unknown> = {}) {
  return baseManifest({ _test: `${Date.now()}-${nonce++}`, ...overrides });
}

Deno.test("every algorithm, every transport: ID, store, log and GetManifest round trip", async () => {
  const d = await startDaemon();
  try {
    const kinds: [SignerKind, "sha256" | "sha384" | "sha512"][] = [
      ["ec-p256", "sha384"],
      ["ec-p384", "sha384"],
      ["ec-p521", "sha512"],
      ["rsa3072", "sha384"],
      ["rsa3072", "sha512"],
      ["ed25519", "sha512"],
    ];
    let i = 0;
    for (const [kind, hash] of kinds) {
      const signer = await makeSigner(kind, hash);
      const m = await signedManifest(signer, unique({ aliases: { self: { ".": [`App${i}:1`] } } }));
      const via = VIAS[i++ % VIAS.length];
      const r = await add(d, m, via);
      const what = `${kind}/${hash} via ${via}`;
      assertEquals(r.ok, true, `${what}: ${r.message}`);
      const id = await expectedImageId(signer, m.manifest);
      assertEquals(r.imageId, id, what);
      assertEquals(r.missingLayers, [], what);
      const lines = await logLines(d);
      assertEquals(lines.at(-1), ADD_LINE + id, what);
      // Stored bytes are exactly what was signed.
      const dir = `${d.root}/images/${id}`;
      assertEquals(await Deno.readTextFile(`${dir}/acon-manifest.json`), m.manifest, what);
      assertEquals(await Deno.readFile(`${dir}/signer.cer`), signer.certificate, what);
      const [alg, signerHex, manifestHex] = id.split("/");
      assertEquals(
        await Deno.readLink(`${d.root}/images/${alg}/${signerHex}/App${i - 1}:1`),
        manifestHex,
      );
      for (const v of VIAS) {
        if (v === "curl") {
          const g = await d.curl("GetManifest", { imageId: id });
          const body = g.body as { manifest: string; certificate: string };
          assertEquals(body.manifest, m.manifest, what);
          assertEquals(body.certificate, b64(signer.certificate), what);
        } else {
          const g = await d.client(v).getManifest({ imageId: id });
          assertEquals(g.manifest, m.manifest, `${what} GetManifest ${v}`);
          assertEquals(g.certificate, signer.certificate, `${what} GetManifest ${v}`);
        }
      }
    }
    const lines = await logLines(d);
    assertEquals(lines[0], "INIT sha384/" + "0".repeat(96));
    assertEquals(lines.filter((l) => l.startsWith(ADD_LINE)).length, kinds.length);
    assertEquals((await d.client().health({})).images, kinds.length);
  } finally {
    await d.stop();
  }
});

Deno.test("hostile AddManifest inputs: clear errors, no trace, daemon keeps serving", async () => {
  const d = await startDaemon();
  try {
    const signer = await makeSigner("ec-p384");
    const other = await makeSigner("ec-p256");
    const weak = await makeSigner("ec-p384", "sha256");
    const first = await add(d, await signedManifest(signer, unique()));
    assertEquals(first.ok, true, first.message);
    const before = await walk(d.root);
    const logBefore = await logLines(d);

    const good = await signedManifest(signer, unique());
    const cases: [string, SignedManifest, string, RegExp][] = [
      [
        "tampered manifest",
        { ...good, manifest: good.manifest.replace("/bin/sh", "/bin/xx") },
        "invalid_argument",
        /^Invalid digital signature$/,
      ],
      [
        "wrong certificate",
        { ...good, certificate: other.certificate },
        "invalid_argument",
        /^Invalid digital signature$/,
      ],
      [
        "PEM certificate",
        { ...good, certificate: new TextEncoder().encode(signer.certificatePem) },
        "invalid_argument",
        /^Invalid certificate: PEM given, DER expected$/,
      ],
      [
        "garbage certificate",
        { ...good, certificate: new Uint8Array([0x30, 3, 1, 2, 3]) },
        "invalid_argument",
        /^Invalid certificate/,
      ],
      [
        "empty certificate",
        { ...good, certificate: new Uint8Array() },
        "invalid_argument",
        /^Invalid certificate/,
      ],
      [
        "empty signature",
        { ...good, signature: new Uint8Array() },
        "invalid_argument",
        /^Invalid digital signature/,
      ],
      [
        "sha256 certificate",
        await signedManifest(weak, unique()),
        "invalid_argument",
        /^Invalid certificate: signed with sha256, weaker than the minimum sha384/,
      ],
      [
        "oversized manifest",
        await signedManifest(signer, unique({ _pad: "x".repeat(1024 * 1024) })),
        "invalid_argument",
        /^Invalid manifest: larger than 1048576 bytes/,
      ],
      [
        "oversized certificate",
        { ...good, certificate: new Uint8Array(65 * 1024) },
        "invalid_argument",
        /^Invalid certificate: larger than 65536 bytes/,
      ],
      [
        "oversized signature",
        { ...good, signature: new Uint8Array(17 * 1024) },
        "invalid_argument",
        /^Invalid digital signature: larger than 16384 bytes/,
      ],
      ["empty manifest", { ...good, manifest: "" }, "invalid_argument", /^Invalid manifest: empty/],
      [
        "bad policy rule",
        await signedManifest(signer, unique({ policy: { accepts: ["nonsense"] } })),
        "invalid_argument",
        /^Invalid launch policy format/,
      ],
    ];
    for (const [name, m, re, min] of MALFORMED_MANIFESTS) {
      if (min) continue;
      const text = typeof m === "string" ? m : baseManifest(m);
      cases.push([`manifest: ${name}`, await signedManifest(signer, text), "invalid_argument", re]);
    }
    let i = 0;
    for (const [name, m, code, re] of cases) {
      const via = VIAS[i++ % VIAS.length];
      const r = await add(d, m, via);
      assertEquals(r.ok, false, `${name} via ${via} was accepted`);
      assertEquals(r.code, code, `${name} via ${via}: ${r.message}`);
      assertMatch(r.message ?? "", re, `${name} via ${via}`);
      assertEquals((await d.client().health({})).images, 1, name);
    }
    assertEquals(await walk(d.root), before);
    assertEquals(await logLines(d), logBefore);
    // And the valid one still goes in afterwards.
    const r = await add(d, good, "curl");
    assertEquals(r.imageId, await expectedImageId(signer, good.manifest));
  } finally {
    await d.stop();
  }
});

Deno.test("manifests Start would refuse: AddManifest refuses them before measuring", async () => {
  const d = await startDaemon();
  try {
    const signer = await makeSigner("ec-p384");
    const first = await add(d, await signedManifest(signer, unique()));
    assertEquals(first.ok, true, first.message);
    const before = await walk(d.root);
    const logBefore = await logLines(d);
    const rtmrBefore = (await d.client().getEventLog({})).rtmr3;
    let i = 0;
    for (const [name, overrides, re] of UNSTARTABLE_MANIFESTS) {
      const via = VIAS[i++ % VIAS.length];
      const r = await add(d, await signedManifest(signer, unique(overrides)), via);
      assertEquals(r.ok, false, `${name} via ${via} was accepted`);
      assertEquals(r.code, "invalid_argument", `${name} via ${via}: ${r.message}`);
      assertMatch(r.message ?? "", re, `${name} via ${via}`);
    }
    assertEquals((await d.client().health({})).images, 1);
    assertEquals(await walk(d.root), before);
    assertEquals(await logLines(d), logBefore);
    assertEquals((await d.client().getEventLog({})).rtmr3, rtmrBefore);
  } finally {
    await d.stop();
  }
});

Deno.test("re-add returns the same ID without a new measurement; Finalize blocks AddManifest", async () => {
  const d = await startDaemon();
  try {
    const signer = await makeSigner("ec-p384");
    const m = await signedManifest(signer, unique());
    const a = await add(d, m);
    const lines = await logLines(d);
    // ECDSA signatures differ each time: a new signature over the same bytes is the same image.
    const again = await add(d, { ...m, signature: await signer.sign(m.manifest) }, "curl");
    assertEquals(again.imageId, a.imageId);
    assertEquals(await logLines(d), lines);

    const bad = await d.client().getManifest({ imageId: "sha384/00/11" }).catch((e) => e);
    assertEquals(bad instanceof ConnectError && bad.code, Code.InvalidArgument);
    assertEquals((bad as ConnectError).rawMessage, "Invalid Image ID");

    const unloaded = await signedManifest(signer, unique());
    const absent = await d.curl("GetManifest", {
      imageId: await expectedImageId(signer, unloaded.manifest),
    });
    assertEquals(absent.status, 400);
    assertEquals((absent.body as { message: string }).message, "Invalid Image ID");

    await d.client("grpc-web").finalize({});
    assertEquals((await logLines(d)).at(-1), "github.com/intel/ACON Finalize");
    assertEquals((await d.client().health({})).finalized, true);
    const after = await walk(d.root);
    const logAfter = await logLines(d);
    for (const mm of [m, unloaded]) {
      const r = await add(d, mm, "curl");
      assertEquals(r.code, "permission_denied");
      assertEquals(r.message, "Manifests finalized");
    }
    const f2 = await d.curl("Finalize", {});
    assertEquals(f2.status, 403);
    assertEquals((f2.body as { message: string }).message, "Manifests finalized");
    assertEquals(await walk(d.root), after);
    assertEquals(await logLines(d), logAfter);
    // GetManifest still works after Finalize.
    assertEquals((await d.client().getManifest({ imageId: a.imageId! })).manifest, m.manifest);
  } finally {
    await d.stop();
  }
});

Deno.test("launch policy rejection is PermissionDenied and leaves no trace", async () => {
  const d = await startDaemon();
  try {
    const signer = await makeSigner("ec-p384");
    const locked = await add(
      d,
      await signedManifest(signer, unique({ policy: { accepts: [], rejectUnaccepted: true } })),
    );
    assertEquals(locked.ok, true, locked.message);
    const before = await walk(d.root);
    const logBefore = await logLines(d);
    const r = await add(d, await signedManifest(signer, unique()), "curl");
    assertEquals(r.code, "permission_denied");
    assertMatch(
      r.message ?? "",
      /^Incompatible polices: image sha384\/[0-9a-f]+\/[0-9a-f]+ \(rejectUnaccepted\) does not accept image /,
    );
    assertEquals(await walk(d.root), before);
    assertEquals(await logLines(d), logBefore);
  } finally {
    await d.stop();
  }
});

Deno.test("--min-hash sha256 accepts ACON-era sha256 certificates and layers", async () => {
  const d = await startDaemon({ args: ["--min-hash", "sha256"] });
  try {
    const signer = await makeSigner("ec-p256", "sha256");
    const layer = `sha256/${"b".repeat(64)}`;
    const m = await signedManifest(signer, unique({ layers: [layer] }));
    const r = await add(d, m, "curl");
    assertEquals(r.ok, true, r.message);
    assertEquals(r.imageId, await expectedImageId(signer, m.manifest));
    assertMatch(r.imageId!, /^sha256\//);
    assertEquals(r.missingLayers, [layer]);
  } finally {
    await d.stop();
  }
});

Deno.test("layers and aliases: links, missing_layers, dangling alias, first definition wins", async () => {
  const d = await startDaemon();
  try {
    const signer: Signer = await makeSigner("ec-p384");
    const signerHex = await opensslHex("sha384", signer.certificate);
    const X = "1".repeat(96), Y = "2".repeat(96), Z = "3".repeat(96);
    const aliasDir = `${d.root}/contents/signer/sha384/${signerHex}`;
    // A dangling alias left by someone else must not break AddManifest, and is kept.
    await Deno.mkdir(aliasDir, { recursive: true });
    await Deno.symlink("../../../sha384/nowhere", `${aliasDir}/Old:1`);
    const layers = [`sha384/${X}`, `signer/sha384/${signerHex}/Base:1`];
    const m = await signedManifest(
      signer,
      unique({
        layers,
        entrypoint: ["/bin/true"],
        aliases: { contents: { [`sha384/${Y}`]: ["Base:1", "Old:1"] }, self: { ".": ["App:1"] } },
      }),
    );
    const r = await add(d, m);
    assertEquals(r.ok, true, r.message);
    assertEquals(r.missingLayers, layers);
    const dir = `${d.root}/images/${r.imageId}`;
    assertEquals(await Deno.readLink(`${dir}/l/0`), `../../../../../contents/sha384/${X}`);
    assertEquals(await Deno.readLink(`${dir}/l/1`), `../../../../../contents/${layers[1]}`);
    assertEquals(await Deno.readLink(`${aliasDir}/Base:1`), `../../../sha384/${Y}`);
    assertEquals(await Deno.readLink(`${aliasDir}/Old:1`), "../../../sha384/nowhere");

    // Content arrives (as a blob upload would put it): re-adding reports only what is absent.
    await Deno.mkdir(`${d.root}/contents/sha384/${X}`, { recursive: true });
    const r2 = await add(d, m, "curl");
    assertEquals(r2.imageId, r.imageId);
    assertEquals(r2.missingLayers, [layers[1]]);
    await Deno.mkdir(`${d.root}/contents/sha384/${Y}`, { recursive: true });
    assertEquals((await add(d, m, "grpc-web")).missingLayers, []);

    // A second image redefining Base:1 does not move the link; its own present layer is not missing.
    const m2 = await signedManifest(
      signer,
      unique({
        layers: [`sha384/${Y}`, `sha384/${Z}`],
        aliases: { contents: { [`sha384/${Z}`]: ["Base:1"] } },
      }),
    );
    const r3 = await add(d, m2);
    assertEquals(r3.missingLayers, [`sha384/${Z}`]);
    assertEquals(await Deno.readLink(`${aliasDir}/Base:1`), `../../../sha384/${Y}`);
  } finally {
    await d.stop();
  }
});

Deno.test("a conflicting file or symlink in the store refuses AddManifest before measuring", async () => {
  const d = await startDaemon();
  const outside = await Deno.makeTempDir({ prefix: "acond-outside-" });
  try {
    const signer = await makeSigner("ec-p384");
    const signerHex = await opensslHex("sha384", signer.certificate);
    const m = await signedManifest(
      signer,
      unique({ aliases: { contents: { [`sha384/${"4".repeat(96)}`]: ["C:1"] } } }),
    );
    const logBefore = await logLines(d);
    // A file where the signer's image directory goes.
    await Deno.mkdir(`${d.root}/images/sha384`, { recursive: true });
    await Deno.writeTextFile(`${d.root}/images/sha384/${signerHex}`, "x");
    let r = await add(d, m, "curl");
    assertEquals(r.code, "failed_precondition", r.message);
    assertMatch(
      r.message!,
      /state directory conflict: .*images\/sha384\/[0-9a-f]{96} is not a directory/,
    );
    await Deno.remove(`${d.root}/images/sha384/${signerHex}`);
    // A symlink that would send the alias links outside the store.
    await Deno.mkdir(`${d.root}/contents`, { recursive: true });
    await Deno.symlink(outside, `${d.root}/contents/signer`);
    r = await add(d, m);
    assertEquals(r.code, "failed_precondition", r.message);
    assertMatch(r.message!, /contents\/signer is not a directory/);
    assertEquals(await logLines(d), logBefore);
    assertEquals([...Deno.readDirSync(outside)], []);
    await Deno.remove(`${d.root}/contents/signer`);
    r = await add(d, m, "grpc-web");
    assertEquals(r.ok, true, r.message);
  } finally {
    await d.stop();
    await Deno.remove(outside, { recursive: true });
  }
});
