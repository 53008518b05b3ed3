/**
 * AddManifest, Finalize and GetManifest (behaviour file §3.4, with §11's defects fixed): under
 * the state lock, validate everything (certificate, signature, manifest, IDs, launch policy,
 * store conflicts), then measure, then commit. A rejected manifest changes nothing. Speaks plain
 * data: the wire types and Watch events are mapped in api/handlers/image.ts.
 */
import type { Context } from "../context.ts";
import { AcondError, denied, invalid, MSG, precondition, withContext } from "../errors.ts";
import { addManifestLine, FINALIZE_LINE } from "../attest/eventlog.ts";
import { evaluatePolicy, type PolicyImage } from "../policy/policy.ts";
import { log } from "../util/log.ts";
import { parseCertificate, verifySignature } from "./cert.ts";
import { computeImageId } from "./ids.ts";
import { acceptManifest, MAX_MANIFEST_BYTES } from "./manifest.ts";
import { DEFAULT_OVERFLOW_UID } from "./start_rules.ts";
import {
  commitImage,
  conflictingPath,
  discardStaged,
  imageParents,
  missingLayers,
  noSpace,
  readImage,
  stageImage,
} from "./store.ts";
import type { LoadedImage } from "../state.ts";
import { signerTrusted } from "../attest/launch_config.ts";

export interface AddManifestInput {
  manifest: string;
  signature: Uint8Array;
  certificate: Uint8Array;
}

export interface AddManifestResult {
  imageId: string;
  missingLayers: string[];
}

/** What the image service reports, under the state lock, as it happens. */
export interface ImageEvents {
  imageAdded(imageId: string): void;
  finalized(): void;
}

/** The manifest's size; the certificate's and signature's are checked where they are parsed. */
function checkSize(raw: Uint8Array): void {
  if (raw.length === 0) throw invalid("Invalid manifest: empty");
  if (raw.length > MAX_MANIFEST_BYTES) {
    throw invalid(`Invalid manifest: larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
}

export function policyImage(image: LoadedImage): PolicyImage {
  return {
    alg: image.alg,
    signerDigest: image.signerDigest,
    manifestDigest: image.manifestDigest,
    selfAliases: Object.values(image.manifest.aliases.self).flat(),
    accepts: image.manifest.policy.accepts,
    rejectUnaccepted: image.manifest.policy.rejectUnaccepted,
  };
}

/** The kernel's overflow uid (Start refuses it in `uids`, as the container service reads it). */
export function readOverflowUid(): number {
  try {
    const v = Number(Deno.readTextFileSync("/proc/sys/kernel/overflowuid").trim());
    return v || DEFAULT_OVERFLOW_UID;
  } catch {
    return DEFAULT_OVERFLOW_UID;
  }
}

export class ImageService {
  constructor(
    private readonly ctx: Context,
    private readonly events: ImageEvents,
    private readonly overflowUid = readOverflowUid(),
  ) {}

  /** The pure part of AddManifest: certificate, signature, IDs and manifest. */
  verify(input: AddManifestInput): LoadedImage {
    const ctx = this.ctx;
    const raw = new TextEncoder().encode(input.manifest);
    checkSize(raw);
    const cert = parseCertificate(input.certificate, ctx.opts.minHash);
    verifySignature(cert, raw, input.signature);
    const ids = computeImageId(cert.alg, input.certificate, raw);
    const manifest = acceptManifest(input.manifest, ctx.opts.minHash, this.overflowUid);
    return { ...ids, manifest, raw, certificate: input.certificate.slice() };
  }

  addManifest(input: AddManifestInput): Promise<AddManifestResult> {
    const ctx = this.ctx;
    return ctx.lock.run(async () => {
      if (ctx.state.finalized) throw denied(MSG.finalized);
      if (ctx.opts.launchRefused) {
        throw precondition(`cannot add images: ${ctx.opts.launchRefused}`);
      }
      if (!ctx.tee.canMeasure) {
        throw precondition(`cannot add images: this TEE cannot measure them (${ctx.tee.note})`);
      }
      const image = this.verify(input);
      if (!signerTrusted(ctx.opts.trustedSigners, image.alg, image.signerDigest)) {
        throw denied(
          `image signer ${image.alg}/${image.signerDigest} is not in the launch configuration's ` +
            "trustedSigners",
        );
      }
      const loaded = ctx.state.images.get(image.id);
      // Same bytes, same signer: already measured and committed.
      if (loaded) {
        return { imageId: loaded.id, missingLayers: await missingLayers(ctx.layout, loaded) };
      }
      this.#checkPolicy(image);
      if (ctx.eventLog.broken) throw precondition(`cannot add images: ${ctx.eventLog.broken}`);
      for (const rel of imageParents(image)) {
        const bad = await conflictingPath(ctx.opts.root, rel);
        if (bad) throw precondition(`state directory conflict: ${bad} is not a directory`);
      }
      await this.#measureAndCommit(image);
      ctx.state.images.set(image.id, image);
      this.events.imageAdded(image.id);
      return { imageId: image.id, missingLayers: await missingLayers(ctx.layout, image) };
    });
  }

  #checkPolicy(image: LoadedImage): void {
    const decision = evaluatePolicy(
      policyImage(image),
      [...this.ctx.state.images.values()].map(policyImage),
    );
    if (!decision.accepted) {
      log.info(`AddManifest ${image.id} refused by launch policy: ${decision.reason ?? ""}`);
      // ACON's text first (clients match it), then which rejecting image fails to reach which.
      throw denied(decision.reason ? `${MSG.policy}: ${decision.reason}` : MSG.policy);
    }
  }

  async #measureAndCommit(image: LoadedImage): Promise<void> {
    const ctx = this.ctx;
    const staged = await withContext(
      `stage image ${image.id}`,
      () => stageImage(ctx.layout, image),
    );
    try {
      await ctx.eventLog.measure(addManifestLine(image.id));
    } catch (e) {
      await discardStaged(staged);
      throw e;
    }
    try {
      await commitImage(ctx.layout, image, staged);
    } catch (e) {
      // Measured but not stored (a rename or mkdir on our own state directory failed; every
      // write that needs space was staged before the measurement): the image cannot be used
      // without its files, so it is not inserted; the log line stays, as RTMR3 has it.
      log.error(`AddManifest ${image.id}: measured but commit failed: ${(e as Error).message}`);
      await discardStaged(staged);
      throw noSpace(e, "the image (measured, not stored)") ??
        new AcondError("internal", MSG.unexpected, { cause: e });
    }
  }

  finalize(): Promise<void> {
    const ctx = this.ctx;
    return ctx.lock.run(async () => {
      if (ctx.state.finalized) throw denied(MSG.finalized);
      if (ctx.eventLog.broken) throw precondition(`cannot finalize: ${ctx.eventLog.broken}`);
      if (!ctx.tee.canMeasure) {
        throw precondition(`cannot finalize: this TEE cannot measure (${ctx.tee.note})`);
      }
      await ctx.eventLog.measure(FINALIZE_LINE);
      ctx.state.finalized = true;
      this.events.finalized();
    });
  }

  /** The loaded images, in load order. */
  list(): LoadedImage[] {
    return [...this.ctx.state.images.values()];
  }

  async getManifest(imageId: string): Promise<{ manifest: string; certificate: Uint8Array }> {
    if (!this.ctx.state.images.has(imageId)) throw invalid(MSG.badImageId);
    const { raw, certificate } = await readImage(this.ctx.layout, imageId);
    return { manifest: new TextDecoder().decode(raw), certificate };
  }
}
