/**
 * The image service with a controllable TEE (no daemon): fail-closed when the TEE cannot measure
 * or an extend fails, events, and serialisation of concurrent adds.
 */
import { assertEquals } from "../../helpers/assert.ts";
import { makeSigner } from "../../helpers/pki.ts";
import {
  baseManifest,
  expectedImageId,
  signedManifest,
  UNSTARTABLE_MANIFESTS,
} from "../../helpers/image.ts";
import { ImageService } from "../../../src/image/service.ts";
import type { Context } from "../../../src/context.ts";
import type { Options } from "../../../src/options.ts";
import type { Tee } from "../../../src/attest/tee.ts";
import { EventLog } from "../../../src/attest/eventlog.ts";
import { type AcondEvent, EventBus } from "../../../src/events.ts";
import { Mutex } from "../../../src/util/mutex.ts";
import { Layout } from "../../../src/layout.ts";
import { digest } from "../../../src/digest.ts";
import { AcondError } from "../../../src/errors.ts";

class FakeTee implements Tee {
  readonly kind = "sim" as const;
  note = "fake";
  canMeasure = true;
  failExtend = false;
  extends = 0;
  /** Runs after each successful extend (to break things between measure and commit). */
  afterExtend: () => void = () => {};
  #rtmr = new Uint8Array(48);
  extendRtmr(_i: number, d: Uint8Array): Promise<void> {
    if (this.failExtend) return Promise.reject(new Error("extend failed"));
    this.extends++;
    const j = new Uint8Array(96);
    j.set(this.#rtmr);
    j.set(d, 48);
    this.#rtmr = digest("sha384", j);
    this.afterExtend();
    return Promise.resolve();
  }
  readRtmr(): Promise<Uint8Array> {
    return Promise.resolve(this.#rtmr.slice());
  }
  report(): Promise<Uint8Array> {
    return Promise.reject(new Error("no reports"));
  }
  quote(): Promise<Uint8Array> {
    return Promise.reject(new Error("no quotes"));
  }
}

async function context(tee: FakeTee) {
  const root = await Deno.makeTempDir({ prefix: "acond-image-unit-" });
  const events: AcondEvent[] = [];
  const bus = new EventBus();
  bus.subscribe((e) => events.push(e));
  const ctx: Context = {
    opts: { root, minHash: "sha384" } as Options,
    tee,
    eventLog: new EventLog(`${root}/rtmr/rtmr3.log`, tee),
    events: bus,
    lock: new Mutex(),
    state: { finalized: false, images: new Map(), containers: new Map() },
    startedAt: Date.now(),
    layout: new Layout(root),
  };
  return {
    ctx,
    root,
    events,
    svc: new ImageService(ctx, {
      imageAdded: (imageId) => bus.emit({ kind: "image_added", imageId }),
      finalized: () => bus.emit({ kind: "finalized" }),
    }, 65534),
  };
}

async function entries(root: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(root)) out.push(e.name);
  return out.sort();
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp) {
  const e = await p.then(() => null, (e) => e);
  assertEquals(e instanceof AcondError, true, String(e));
  assertEquals((e as AcondError).code, code);
  assertEquals(re.test((e as Error).message), true, (e as Error).message);
}

Deno.test("a TEE that cannot measure: AddManifest and Finalize refused, nothing written", async () => {
  const tee = new FakeTee();
  tee.canMeasure = false;
  const { ctx, root, svc } = await context(tee);
  try {
    const m = await signedManifest(await makeSigner("ec-p384"), baseManifest());
    await rejectsWith(svc.addManifest(m), "failed_precondition", /cannot measure/);
    await rejectsWith(svc.finalize(), "failed_precondition", /cannot measure/);
    assertEquals(await entries(root), []);
    assertEquals(ctx.state.images.size, 0);
    assertEquals(ctx.state.finalized, false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an extend that fails leaves no image, link, log line or staged directory", async () => {
  const tee = new FakeTee();
  tee.failExtend = true;
  const { ctx, root, events, svc } = await context(tee);
  try {
    const m = await signedManifest(
      await makeSigner("ec-p384"),
      baseManifest({ aliases: { self: { ".": ["A:1"] } } }),
    );
    const e = await svc.addManifest(m).then(() => null, (e) => e);
    assertEquals((e as Error).message, "extend failed");
    assertEquals(ctx.state.images.size, 0);
    assertEquals(events, []);
    assertEquals(await entries(`${root}/tmp`), []);
    assertEquals(await entries(root).then((r) => r.includes("images")), false);
    assertEquals(await Deno.readTextFile(`${root}/rtmr/rtmr3.log`).catch(() => ""), "");
    // Once the TEE works again, the same manifest goes in.
    tee.failExtend = false;
    const r = await svc.addManifest(m);
    assertEquals(ctx.state.images.has(r.imageId), true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("concurrent adds of one manifest measure once; events IMAGE_ADDED and FINALIZED", async () => {
  const tee = new FakeTee();
  const { root, events, svc } = await context(tee);
  try {
    const signer = await makeSigner("ed25519");
    const m = await signedManifest(signer, baseManifest());
    const rs = await Promise.all([svc.addManifest(m), svc.addManifest(m), svc.addManifest(m)]);
    const id = await expectedImageId(signer, m.manifest);
    for (const r of rs) assertEquals(r, { imageId: id, missingLayers: [] });
    assertEquals(tee.extends, 2); // INIT + one AddManifest
    await svc.finalize();
    assertEquals(tee.extends, 3);
    assertEquals(events.map((e) => [e.kind, e.imageId]), [
      ["image_added", id],
      ["finalized", undefined],
    ]);
    await rejectsWith(svc.finalize(), "permission_denied", /^Manifests finalized$/);
    await rejectsWith(svc.addManifest(m), "permission_denied", /^Manifests finalized$/);
    assertEquals(tee.extends, 3);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a commit that fails after the measurement: Unexpected error, image not loaded, a retry loads it", async () => {
  const tee = new FakeTee();
  const { ctx, root, events, svc } = await context(tee);
  try {
    const signer = await makeSigner("ec-p384");
    const m = await signedManifest(signer, baseManifest());
    const id = await expectedImageId(signer, m.manifest);
    const signerDir = `${root}/images/${id.split("/").slice(0, 2).join("/")}`;
    // Something takes the signer directory's place once RTMR3 has the line.
    tee.afterExtend = () => {
      if (tee.extends !== 2) return;
      Deno.mkdirSync(`${root}/images/sha384`, { recursive: true });
      Deno.writeTextFileSync(signerDir, "in the way");
    };
    await rejectsWith(svc.addManifest(m), "internal", /^Unexpected error$/);
    assertEquals(ctx.state.images.size, 0);
    assertEquals(events, []);
    assertEquals(await entries(`${root}/tmp`), []);
    // RTMR3 has the line, so the log keeps it (the log must replay to RTMR3).
    const line = `github.com/intel/ACON AddManifest ${id}`;
    assertEquals(ctx.eventLog.lines.at(-1), line);
    await Deno.remove(signerDir);
    const r = await svc.addManifest(m);
    assertEquals(r.imageId, id);
    assertEquals(ctx.state.images.has(id), true);
    assertEquals(ctx.eventLog.lines.filter((l) => l === line).length, 2);
    assertEquals(
      await Deno.readTextFile(`${signerDir}/${id.split("/")[2]}/acon-manifest.json`),
      m.manifest,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** Every path under the root with its type and content. */
async function tree(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isSymlink) out.push(`${rel}${e.name} -> ${await Deno.readLink(p)}`);
    else if (e.isDirectory) out.push(`${rel}${e.name}/`, ...await tree(p, `${rel}${e.name}/`));
    else out.push(`${rel}${e.name} ${await Deno.readTextFile(p)}`);
  }
  return out.sort();
}

Deno.test("manifests Start would refuse: refused before measuring; log, RTMR3, store, table unchanged", async () => {
  const tee = new FakeTee();
  const { ctx, root, events, svc } = await context(tee);
  try {
    const signer = await makeSigner("ec-p384");
    await svc.addManifest(await signedManifest(signer, baseManifest()));
    const before = {
      files: await tree(root),
      log: await Deno.readTextFile(`${root}/rtmr/rtmr3.log`),
      rtmr: await tee.readRtmr(),
      extends: tee.extends,
      images: [...ctx.state.images.keys()],
      events: events.length,
    };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ...UNSTARTABLE_MANIFESTS,
      // The kernel's overflow uid, as the service was given it.
      ["the overflow uid", { uids: [65534] }, /^Invalid manifest: uids\[0\] must not be the/],
      ["non-string entrypoint", { entrypoint: [1] }, /entrypoint\[0\] must be a string, not a/],
    ];
    for (const [name, overrides, re] of cases) {
      const m = await signedManifest(signer, baseManifest({ ...overrides, _n: name }));
      await rejectsWith(svc.addManifest(m), "invalid_argument", re);
    }
    assertEquals(await tree(root), before.files);
    assertEquals(await Deno.readTextFile(`${root}/rtmr/rtmr3.log`), before.log);
    assertEquals(await tee.readRtmr(), before.rtmr);
    assertEquals(tee.extends, before.extends);
    assertEquals([...ctx.state.images.keys()], before.images);
    assertEquals(events.length, before.events);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the overflow uid the service was given (the kernel's) is refused in uids", async () => {
  const tee = new FakeTee();
  const { ctx, root } = await context(tee);
  try {
    const svc = new ImageService(ctx, { imageAdded() {}, finalized() {} }, 4242);
    const signer = await makeSigner("ec-p384");
    const m = await signedManifest(signer, baseManifest({ uids: [4242] }));
    await rejectsWith(
      svc.addManifest(m),
      "invalid_argument",
      /uids\[0\] must not be the overflow uid 4242/,
    );
    assertEquals(ctx.state.images.size, 0);
    assertEquals(tee.extends, 0);
    const r = await svc.addManifest(await signedManifest(signer, baseManifest({ uids: [4243] })));
    assertEquals(ctx.state.images.has(r.imageId), true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
