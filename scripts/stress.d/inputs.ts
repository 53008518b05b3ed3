/**
 * Hostile inputs: one property per kind of input, each a fast-check generator and the oracle of
 * its answer. The runner (run.ts) draws `n` values of a property with the run's seed, sends each
 * through the real API or the real container socket, judges the answer with `run`, then runs the
 * consistency oracle (oracle.ts). An oracle returns what is wrong, by kind:
 *   unearned: an error the request did not earn (internal, unknown, a dropped connection, a
 *             valid request refused);  wrong: an answer that breaks a rule (a forged manifest
 *             accepted, a wrong output);  hang: no answer within STRESS_HANG_MS.
 */
import fc from "fast-check";
import { Code } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import * as pb from "../../src/gen/acon_pb.ts";
import { type CraftEntry, craftTar, paxRecords } from "../../tests/helpers/tarcraft.ts";
import { baseManifest, canonicalJson } from "../../tests/helpers/image.ts";
import { sha384hex } from "../../tests/helpers/busybox.ts";
import {
  CMD_GET_REPORT,
  CMD_SET_DATA,
  decodeResponse,
  encodeGetReportReq,
  encodeSetDataReq,
} from "../../src/attest/ipc.ts";
import { canary, canaryTargets } from "./oracle.ts";
import {
  type Answer,
  call,
  dec,
  describe,
  EARNED,
  enc,
  HANG_MS,
  unearned,
  unearnedRaw,
  type World,
} from "./world.ts";

export interface Verdict {
  unearned?: string;
  wrong?: string;
  hang?: boolean;
}

/** What a property gets besides its input: the world and the run's canary targets. */
export interface Ctx {
  w: World;
  seed: number;
  victim: string;
  /**
   * A second world for properties that change global state (launch policies). `fresh`: a new
   * daemon on a new root, which its next user will not share either.
   */
  policyWorld(fresh: boolean): Promise<World>;
}

export interface Property<T> {
  name: string;
  /** Share of STRESS_INPUTS. */
  weight: number;
  arb(ctx: Ctx): fc.Arbitrary<T>;
  run(ctx: Ctx, input: T): Promise<Verdict>;
}

/** The verdict of an answer that only has to be earned (success or an earned error code). */
function earnedOnly(a: Answer<unknown>, what: string): Verdict {
  const u = unearned(a);
  if (u === "hang") return { hang: true };
  return u ? { unearned: `${what}: ${u}` } : {};
}

function show(v: unknown, max = 160): string {
  const s = JSON.stringify(
    v,
    (_, x) => typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? `<${x.length} bytes>` : x,
  );
  return s && s.length > max ? `${s.slice(0, max)}…` : String(s);
}

// ---- Building blocks ------------------------------------------------------------------------

/** Strings a hostile client sends: paths out of the root, NULs, controls, long, non-ASCII. */
function hostileString(ctx: Ctx): fc.Arbitrary<string> {
  const c = canary(ctx.seed);
  return fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom(
      "",
      ".",
      "..",
      "../../../../tmp/" + c,
      "/tmp/" + c,
      "/etc/" + c,
      `${ctx.victim}/${c}`,
      "a\0b",
      "\n",
      "%s%n",
      "$(touch /tmp/" + c + ")",
      "\u202e",
      "\ud800",
      "sh;id",
    ),
    fc.nat({ max: 5000 }).map((n) => "x".repeat(n)),
  );
}

const U64 = (1n << 64n) - 1n;
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));

function layerRef(ctx: Ctx): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(ctx.w.layer),
    hex(96).map((h) => `sha384/${h}`),
    hex(64).map((h) => `sha256/${h}`),
    hex(128).map((h) => `sha512/${h}`),
    hostileString(ctx),
  );
}

/** Env strings (manifest rules and Start/Exec lists alike). */
function envEntry(ctx: Ctx): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      "PATH=/bin",
      "A",
      "A=1",
      "B=",
      "B=2",
      "C=x",
      "=x",
      "",
      "=",
      "A=1=2",
      "LD_PRELOAD=/x",
    ),
    fc.tuple(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.option(fc.string({ maxLength: 8 })))
      .map(([k, v]) => (v === null ? k : `${k}=${v}`)),
    hostileString(ctx),
  );
}

/** A value of any JSON type, for a field that wants one type. */
function junk(ctx: Ctx): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, 1e308, [], {}, "1"),
    hostileString(ctx),
    fc.jsonValue({ maxDepth: 2 }),
  );
}

/** Overrides of baseManifest(): each field valid, hostile or of the wrong type. */
function manifestFields(ctx: Ctx): fc.Arbitrary<Record<string, unknown>> {
  const smallInts = fc.array(fc.integer({ min: -10, max: 70000 }), { maxLength: 6 });
  return fc.record({
    aconSpecVersion: fc.oneof(
      fc.constant([1, 0]),
      fc.tuple(fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: 2 ** 33 })),
      junk(ctx),
    ),
    layers: fc.oneof(fc.constant([]), fc.array(layerRef(ctx), { maxLength: 3 }), junk(ctx)),
    entrypoint: fc.oneof(
      fc.constant(["/bin/sleep", "1000"]),
      fc.array(hostileString(ctx), { maxLength: 4 }),
      junk(ctx),
    ),
    env: fc.oneof(fc.array(envEntry(ctx), { maxLength: 6 }), junk(ctx)),
    workingDir: fc.oneof(fc.constantFrom("/", "/work"), hostileString(ctx), junk(ctx)),
    uids: fc.oneof(fc.constant([]), smallInts, junk(ctx)),
    logFDs: fc.oneof(fc.constant([]), fc.constant([1, 2]), smallInts, junk(ctx)),
    writableFS: fc.oneof(fc.boolean(), junk(ctx)),
    noRestart: fc.oneof(fc.boolean(), junk(ctx)),
    signals: fc.oneof(fc.array(fc.integer({ min: -70, max: 70 }), { maxLength: 6 }), junk(ctx)),
    maxInstances: fc.oneof(fc.nat({ max: 5 }), fc.integer(), junk(ctx)),
    policy: fc.oneof(
      fc.record({
        accepts: fc.array(policyRule(ctx), { maxLength: 3 }),
        rejectUnaccepted: fc.constant(false), // rejecting policies: `policy`
      }),
      junk(ctx).filter((j) => !(j && typeof j === "object" && "rejectUnaccepted" in j)),
    ),
    extra: fc.option(fc.tuple(fc.constantFrom("_vendor", "foo", "Layers", "__proto__"), junk(ctx))),
  }, { requiredKeys: [] });
}

/** A policy rule: well formed (matching a signer, a manifest digest, an alias) or malformed. */
function policyRule(ctx: Ctx): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom("sha384/*/*", "sha512/*/*", "md5/x/y", "sha384//", "sha384/*/alias:1"),
    hex(96).map((h) => `sha384/${h}/*`),
    fc.tuple(hex(96), hex(96)).map(([s, m]) => `sha384/${s}/${m}`),
    fc.tuple(hex(128), fc.stringMatching(/^[a-z]{1,6}:[0-9]{1,3}$/)).map(([s, a]) =>
      `sha512/${s}/${a}`
    ),
    hostileString(ctx),
  );
}

let unique = 0;
function applyFields(ctx: Ctx, f: Record<string, unknown>): Record<string, unknown> {
  const { extra, ...fields } = f;
  const m = baseManifest({ ...fields });
  if (extra) {
    const [k, v] = extra as [string, unknown];
    Object.defineProperty(m, k, { value: v, enumerable: true, configurable: true, writable: true });
  }
  m.aliases = { self: { ".": [`p${ctx.seed}x${unique++}-${Date.now()}:1`] } };
  return m;
}

async function addSigned(
  w: World,
  text: string,
  signerIx: number,
): Promise<Answer<pb.AddManifestResponse>> {
  const s = w.signers[signerIx % w.signers.length];
  const signature = await s.sign(text);
  return await call((signal) =>
    w.c.addManifest({ manifest: text, signature, certificate: s.signer.certificate }, { signal })
  );
}

/** An accepted manifest must get the id its bytes and certificate make. */
async function idVerdict(
  w: World,
  a: Answer<pb.AddManifestResponse>,
  text: string,
  signerIx: number,
): Promise<Verdict> {
  if (!a.ok) return earnedOnly(a, "AddManifest");
  const want = await w.signers[signerIx % w.signers.length].imageId(text);
  return a.value.imageId === want ? {} : { wrong: `image id ${a.value.imageId}, want ${want}` };
}

// ---- Properties -----------------------------------------------------------------------------

/** Signed manifests whose every field may be hostile: accepted with the right id, or refused. */
export const manifestSigned: Property<
  { fields: Record<string, unknown>; signer: number; raw?: string }
> = {
  name: "manifest",
  weight: 14,
  arb: (ctx) =>
    fc.record({
      fields: manifestFields(ctx),
      signer: fc.nat({ max: 1 }),
      // Sometimes signed text that is not the canonical form, or not JSON at all.
      raw: fc.option(
        fc.oneof(fc.json(), fc.string({ unit: "binary", maxLength: 200 }), fc.constant("{}")),
        { freq: 6 },
      ).map((x) => x ?? undefined),
    }, { requiredKeys: ["fields", "signer"] }),
  async run(ctx, x) {
    const text = x.raw ?? canonicalJson(applyFields(ctx, x.fields));
    return await idVerdict(ctx.w, await addSigned(ctx.w, text, x.signer), text, x.signer);
  },
};

/** Manifests that do not carry a valid signature by their certificate: always refused. */
export const manifestForged: Property<{ how: string; bytes: Uint8Array; signer: number }> = {
  name: "forged",
  weight: 8,
  arb: () =>
    fc.record({
      how: fc.constantFrom(
        "random signature",
        "empty signature",
        "signature of other text",
        "other signer's signature",
        "PEM certificate",
        "random certificate",
        "truncated certificate",
        "flipped signature bit",
      ),
      bytes: fc.uint8Array({ maxLength: 600 }),
      signer: fc.nat({ max: 1 }),
    }),
  async run(ctx, x) {
    const w = ctx.w;
    const s = w.signers[x.signer];
    const other = w.signers[1 - x.signer];
    const text = canonicalJson(w.busyboxManifest());
    let signature = await s.sign(text);
    let certificate: Uint8Array = s.signer.certificate;
    switch (x.how) {
      case "random signature":
        signature = x.bytes;
        break;
      case "empty signature":
        signature = new Uint8Array();
        break;
      case "signature of other text":
        signature = await s.sign(text + " ");
        break;
      case "other signer's signature":
        signature = await other.sign(text);
        break;
      case "PEM certificate":
        certificate = enc.encode(s.signer.certificatePem);
        break;
      case "random certificate":
        certificate = x.bytes;
        break;
      case "truncated certificate":
        certificate = certificate.slice(0, x.bytes.length % certificate.length);
        break;
      case "flipped signature bit": {
        signature = signature.slice();
        const bit = (x.bytes[0] ?? 0) + 256 * (x.bytes[1] ?? 0);
        signature[(bit >> 3) % signature.length] ^= 1 << (bit & 7);
        break;
      }
    }
    const a = await call((signal) =>
      w.c.addManifest({ manifest: text, signature, certificate }, { signal })
    );
    if (a.ok) return { wrong: `${x.how}: accepted as ${a.value.imageId}` };
    return earnedOnly(a, x.how);
  },
};

/**
 * Launch policies (on a world of their own: a rejecting policy changes what later images may
 * load). A first image A with random rules, then an image B: with A rejecting unaccepted images,
 * B loads iff a rule of A matches B (the model below knows the rules it generated).
 */
export const policy: Property<{
  rules: { kind: "B's signer" | "other signer" | "B's manifest" | "malformed"; text: string }[];
  reject: boolean;
  signerA: number;
  signerB: number;
}> = {
  name: "policy",
  weight: 4,
  arb: (ctx) =>
    fc.record({
      rules: fc.array(
        fc.oneof(
          fc.constant({ kind: "B's signer" as const, text: "" }),
          fc.constant({ kind: "other signer" as const, text: "" }),
          fc.constant({ kind: "B's manifest" as const, text: "" }),
          policyRule(ctx).filter((r) => !/^sha(384|512)\/[0-9a-f*]/.test(r)).map((text) => ({
            kind: "malformed" as const,
            text,
          })),
        ),
        { maxLength: 3 },
      ),
      // A rejecting A: the policy world is replaced afterwards (costs a daemon start).
      reject: fc.constantFrom(false, false, false, true),
      signerA: fc.nat({ max: 1 }),
      signerB: fc.nat({ max: 1 }),
    }),
  async run(ctx, x) {
    // The model assumes a rejecting A is the only other image: a fresh world for it.
    const w = await ctx.policyWorld(x.reject);
    const sB = w.signers[x.signerB];
    const textB = canonicalJson(w.busyboxManifest());
    const idB = await sB.imageId(textB);
    const [algB, signerB, manifestB] = idB.split("/");
    const otherAlg = w.signers[1 - x.signerB].signer.hash;
    const otherSigner = (await w.signers[1 - x.signerB].imageId("")).split("/")[1];
    const rules = x.rules.map((r) =>
      r.kind === "B's signer"
        ? `${algB}/${signerB}/*`
        : r.kind === "other signer"
        ? `${otherAlg}/${otherSigner}/*`
        : r.kind === "B's manifest"
        ? `${algB}/*/${manifestB}`
        : r.text
    );
    const textA = canonicalJson(
      w.busyboxManifest({ policy: { accepts: rules, rejectUnaccepted: x.reject } }),
    );
    const a = await addSigned(w, textA, x.signerA);
    const malformed = x.rules.some((r) => r.kind === "malformed");
    if (malformed) {
      if (a.ok) return { wrong: `malformed rules ${show(rules)} accepted` };
      return earnedOnly(a, "AddManifest A");
    }
    if (!a.ok) return { unearned: `A (rules ${show(rules)}): ${describe(a)}` };
    const b = await addSigned(w, textB, x.signerB);
    // A is rejecting: B must be reachable from A (B's signer with B's alg, or B's manifest);
    // a signer rule for the same signer digest but another alg cannot match.
    const matches = x.rules.some((r) =>
      r.kind === "B's signer" || r.kind === "B's manifest" ||
      (r.kind === "other signer" && otherSigner === signerB && otherAlg === algB)
    );
    const want = !x.reject || matches;
    if (b.ok !== want) {
      return {
        wrong: `B ${b.ok ? "accepted" : "refused (" + describe(b) + ")"} under ${
          x.reject ? "rejecting" : "open"
        } rules ${show(x.rules.map((r) => r.kind))}`,
      };
    }
    return b.ok ? {} : earnedOnly(b, "AddManifest B");
  },
};

const METHODS = [
  "AddManifest",
  "AddBlob",
  "Start",
  "Restart",
  "Exec",
  "Kill",
  "Inspect",
  "Report",
  "GetManifest",
  "Health",
  "BeginBlob",
  "WriteBlob",
  "BlobStatus",
  "CommitBlob",
  "GetEventLog",
  "Logs",
  "Watch",
  "KernelLog",
  "NoSuchMethod",
  "../Health",
  // Finalize, Shutdown and Reboot are left out: a valid body would end the run's other inputs.
];

/** A body of the right shape with hostile values, or any JSON, or not JSON. */
function jsonBody(ctx: Ctx): fc.Arbitrary<string> {
  const fieldNames = fc.constantFrom(
    "containerId",
    "imageId",
    "envs",
    "command",
    "arguments",
    "timeout",
    "stdin",
    "captureSize",
    "signalNum",
    "nonceLo",
    "requestType",
    "alg",
    "data",
    "digest",
    "size",
    "uploadId",
    "offset",
    "follow",
    "manifest",
    "signature",
    "certificate",
  );
  return fc.oneof(
    fc.dictionary(fieldNames, junk(ctx), { maxKeys: 5 }).map((o) => JSON.stringify(o)),
    fc.json({ maxDepth: 3 }),
    fc.string({ unit: "binary", maxLength: 100 }),
    fc.constantFrom("", "{", "null", "[]", '{"containerId":1e400}', '{"timeout":"-1"}'),
  );
}

/** Connect JSON bodies to every method: any answer but a 5xx or no answer. */
export const jsonBodies: Property<{ method: string; body: string; ctype: string }> = {
  name: "json-body",
  weight: 12,
  arb: (ctx) =>
    fc.record({
      method: fc.constantFrom(...METHODS),
      body: jsonBody(ctx),
      ctype: fc.constantFrom(
        "application/json",
        "application/json",
        "application/connect+json",
        "text/plain",
      ),
    }),
  async run(ctx, x) {
    // Follow-mode streams and long Execs end at the client's deadline: a cut, not a hang.
    const streaming = ["Logs", "Watch", "KernelLog"].includes(x.method);
    const a = await ctx.w.raw(`/acon.grpc.AconService/${x.method}`, {
      method: "POST",
      headers: { "content-type": x.ctype, "connect-timeout-ms": "3000" },
      body: x.body,
    }, streaming ? 1500 : HANG_MS);
    if (streaming && "hang" in a) return {};
    const u = unearnedRaw(a);
    return u === "hang"
      ? { hang: true }
      : u
      ? { unearned: `${x.method} ${show(x.body)}: ${u}` }
      : {};
  },
};

/**
 * Binary protobuf bodies: random bytes, and valid messages with bytes flipped, cut or appended,
 * to every method. A body that does not decode must answer invalid_argument (issue 10, item 11).
 */
export const protoBodies: Property<{ method: string; body: Uint8Array; mutation: string }> = {
  name: "proto-body",
  weight: 10,
  arb: () =>
    fc.record({
      method: fc.constantFrom(
        ...METHODS.filter((m) => !["Logs", "Watch", "KernelLog"].includes(m)),
      ),
      body: fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.constant(
          toBinary(
            pb.ExecRequestSchema,
            create(pb.ExecRequestSchema, {
              containerId: 2,
              command: "Echo",
              arguments: ["a"],
              timeout: 2n,
            }),
          ),
        ),
        fc.constant(
          toBinary(
            pb.StartRequestSchema,
            create(pb.StartRequestSchema, { imageId: "x", envs: ["A=1"] }),
          ),
        ),
      ),
      mutation: fc.constantFrom("as is", "flip", "cut", "append", "varint overflow"),
    }),
  async run(ctx, x) {
    let b = x.body.slice();
    if (x.mutation === "flip" && b.length) b[b.length >> 1] ^= 0xa5;
    if (x.mutation === "cut") b = b.slice(0, b.length >> 1);
    if (x.mutation === "append") b = new Uint8Array([...b, 0x0a, 0xff, 0xff]);
    if (x.mutation === "varint overflow") {
      b = new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }
    const a = await ctx.w.raw(`/acon.grpc.AconService/${x.method}`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: b,
    });
    const u = unearnedRaw(a);
    return u === "hang" ? { hang: true } : u ? { unearned: `${x.method} ${x.mutation}: ${u}` } : {};
  },
};

/**
 * The proto-body inputs again over native gRPC (HTTP/2 with trailers: curl over the API socket,
 * h2c), in a gRPC envelope that is itself sometimes hostile: the answer's grpc-status must be an
 * earned one (or OK), and there must be one.
 */
export const grpcBodies: Property<
  { method: string; body: Uint8Array; mutation: string; envelope: string }
> = {
  name: "grpc-body",
  weight: 2,
  arb: (ctx) =>
    fc.record({
      method: fc.constantFrom(
        ...METHODS.filter((m) => !["Logs", "Watch", "KernelLog"].includes(m)),
      ),
      body: protoBodies.arb(ctx).map((x) => x.body),
      mutation: fc.constantFrom("as is", "flip", "cut"),
      envelope: fc.constantFrom("ok", "long", "short", "compressed", "two", "half"),
    }),
  async run(ctx, x) {
    let b = x.body.slice();
    if (x.mutation === "flip" && b.length) b[b.length >> 1] ^= 0xa5;
    if (x.mutation === "cut") b = b.slice(0, b.length >> 1);
    const env = (flags: number, len: number, m: Uint8Array) => {
      const e = new Uint8Array(5 + m.length);
      e[0] = flags;
      new DataView(e.buffer).setUint32(1, len);
      e.set(m, 5);
      return e;
    };
    const body = x.envelope === "long"
      ? env(0, b.length + 7, b)
      : x.envelope === "short"
      ? env(0, Math.max(0, b.length - 1), b)
      : x.envelope === "compressed"
      ? env(1, b.length, b)
      : x.envelope === "two"
      ? new Uint8Array([...env(0, b.length, b), ...env(0, b.length, b)])
      : x.envelope === "half"
      ? env(0, b.length, b).slice(0, 3)
      : env(0, b.length, b);
    const file = await Deno.makeTempFile({ prefix: "stress-grpc-" });
    try {
      await Deno.writeFile(file, body);
      const r = await new Deno.Command("curl", {
        args: [
          "-sS",
          "-v",
          "-o",
          "/dev/null",
          "--max-time",
          String(Math.ceil(HANG_MS / 1000)),
          "--unix-socket",
          ctx.w.socket,
          "--http2-prior-knowledge",
          "-H",
          "content-type: application/grpc",
          "-H",
          "te: trailers",
          "--data-binary",
          `@${file}`,
          `http://localhost/acon.grpc.AconService/${x.method}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      const what = `${x.method} ${x.mutation}/${x.envelope}`;
      if (r.code === 28) return { hang: true };
      const verbose = new TextDecoder().decode(r.stderr);
      const status = /< grpc-status: (\d+)/.exec(verbose)?.[1];
      if (status === undefined) return { unearned: `${what}: no grpc-status (curl ${r.code})` };
      const code = Number(status);
      if (code === 0 || EARNED.has(code)) return {};
      // The gRPC spec's answer to a compressed flag without a grpc-encoding.
      if (code === Code.Internal && x.envelope === "compressed") return {};
      const message = /< grpc-message: (.*)/.exec(verbose)?.[1]?.trim() ?? "";
      return { unearned: `${what}: grpc-status ${Code[code]} ${decodeURIComponent(message)}` };
    } finally {
      await Deno.remove(file).catch(() => {});
    }
  },
};

/**
 * ACON's REST API (what aconcli speaks) with hostile requests: every endpoint, ids that are not
 * u32s, query strings with junk values, and bodies of every kind (multipart with a broken
 * boundary, missing or repeated parts, huge part headers, a truncated end; urlencoded and JSON
 * junk; random bytes) under matching and mismatching content types. Any 2xx or 4xx answer is
 * earned, and 503 (the body budget); a 500 only with the Connect code ACON has no status for
 * (`x-acond-code`: not_found, failed_precondition, …), never internal or unknown; no hang, no
 * dropped connection.
 */
export const restBodies: Property<
  {
    route: string;
    method: string;
    id: string;
    query: [string, string][];
    body: string;
    ctype: string;
  }
> = {
  name: "rest-body",
  weight: 4,
  arb: () => {
    const junkValue = fc.oneof(
      fc.constantFrom(
        "",
        "0",
        "1",
        "-1",
        "3.5",
        "1e9",
        "18446744073709551616",
        "0x10",
        "abc",
        "%zz",
      ),
      fc.string({ maxLength: 20 }),
      fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String),
    );
    const names = fc.constantFrom(
      "timeout",
      "capture_size",
      "nonce_lo",
      "nonce_hi",
      "request_type",
      "signum",
      "image_id",
      "envs",
      "arguments",
      "size",
      "x",
    );
    const boundary = "XbOuNdArY";
    const part = fc.record({
      name: fc.constantFrom("manifest", "signature", "certificate", "stdin", "envs", "x", ""),
      data: fc.string({ unit: "binary", maxLength: 200 }),
      filename: fc.boolean(),
    }).map((p) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"` +
      `${p.filename ? '; filename="f"' : ""}\r\n\r\n${p.data}\r\n`
    );
    const multipart = fc.tuple(
      fc.array(part, { maxLength: 4 }),
      fc.constantFrom("end", "no end", "wrong end", "huge header", "no crlf"),
    ).map(([parts, end]) =>
      end === "huge header"
        ? `--${boundary}\r\nContent-Disposition: form-data; name="x"; ${"a".repeat(70000)}\r\n\r\n`
        : end === "no crlf"
        ? parts.join("").replaceAll("\r\n", "\n")
        : parts.join("") +
          (end === "end" ? `--${boundary}--\r\n` : end === "wrong end" ? "--other--" : "")
    );
    return fc.record({
      route: fc.constantFrom(
        "manifest",
        "manifest/finalize",
        "manifest/{id}/x/y",
        "blob/{id}",
        "container/start",
        "container/{id}/restart",
        "container/{id}/exec",
        "container/{id}/kill",
        "container/{id}/inspect",
        "container/inspect",
        "container/report",
        "oauth2/login",
        "oauth2/logout",
        "no/such/path",
      ),
      method: fc.constantFrom("GET", "POST", "POST", "PUT", "DELETE"),
      id: fc.constantFrom("1", "0", "4294967295", "4294967296", "-1", "abc", "%2e%2e", "1.0"),
      query: fc.array(fc.tuple(names, junkValue), { maxLength: 4 }),
      body: fc.oneof(
        multipart,
        fc.string({ unit: "binary", maxLength: 300 }),
        fc.json({ maxDepth: 2 }),
        fc.array(fc.tuple(names, junkValue), { maxLength: 4 }).map((kv) =>
          kv.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")
        ),
        fc.constant(""),
      ),
      ctype: fc.constantFrom(
        `multipart/form-data; boundary=${boundary}`,
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "application/x-www-form-urlencoded",
        "application/json",
        "application/octet-stream",
      ),
    });
  },
  async run(ctx, x) {
    const path = `/api/v1/${x.route.replace("{id}", x.id)}?${
      x.query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")
    }`;
    const withBody = x.method !== "GET";
    const a = await ctx.w.rawWithHeaders(path, {
      method: x.method,
      headers: withBody ? { "content-type": x.ctype } : {},
      body: withBody ? x.body : undefined,
    });
    const what = `${x.method} ${path.slice(0, 120)} ${show(x.body, 80)}`;
    if ("hang" in a) return { hang: true };
    if ("transport" in a) return { unearned: `${what}: transport: ${a.transport}` };
    if (a.status < 500 || a.status === 503) return {};
    const code = a.headers.get("x-acond-code") ?? "";
    if (a.status === 500 && code && !["internal", "unknown", "data_loss"].includes(code)) return {};
    return { unearned: `${what}: HTTP ${a.status} ${code}: ${a.text.slice(0, 200)}` };
  },
};

/** Start with hostile env lists on an image with env rules; started containers exit at once. */
export const envLists: Property<{ envs: string[] }> = {
  name: "env",
  weight: 6,
  arb: (ctx) =>
    fc.record({
      envs: fc.oneof(
        fc.array(envEntry(ctx), { maxLength: 8 }),
        fc.nat({ max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `A=${i}`)),
      ),
    }),
  async run(ctx, x) {
    const w = ctx.w;
    const image = await envImage(w);
    const a = await call((signal) => w.c.start({ imageId: image, envs: x.envs }, { signal }));
    return earnedOnly(a, `Start envs ${show(x.envs)}`);
  },
};

const envImages = new WeakMap<World, { pid: number; id: string }>();
async function envImage(w: World): Promise<string> {
  const e = envImages.get(w);
  if (e && e.pid === w.pid) return e.id;
  const id = await w.addImage({
    entrypoint: ["/bin/true"],
    env: ["PATH=/bin", "A", "B=", "C=x", "D=1", "D=2"],
    noRestart: true,
  });
  envImages.set(w, { pid: w.pid, id });
  return id;
}

/** Tar entries a hostile layer carries: escapes, links out, devices, lies about sizes. */
function tarEntry(ctx: Ctx): fc.Arbitrary<CraftEntry> {
  const c = canary(ctx.seed);
  const name = fc.oneof(
    fc.constantFrom(
      "a",
      "dir/",
      "dir/b",
      "./c",
      "../" + c,
      "../../../../../tmp/" + c,
      "/tmp/" + c,
      "evil/" + c,
      "evildir/x/" + c,
      "lib/acon/entrypoint.d/Echo",
      ".",
      "",
    ),
    fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 99 }),
  );
  const target = fc.oneof(
    fc.constantFrom(...canaryTargets(ctx.seed, ctx.victim), ctx.victim, "/", "/etc", "..", "a"),
    fc.string({ maxLength: 20 }),
  );
  return fc.record({
    name,
    type: fc.constantFrom("0", "0", "0", "1", "2", "2", "3", "5", "6", "x", "L", "g", "7", "Z"),
    data: fc.oneof(fc.uint8Array({ maxLength: 1500 }), target),
    mode: fc.oneof(fc.constantFrom(0o644, 0o755, 0o4755, 0o7777, 0), fc.nat({ max: 0o7777 })),
    linkname: target,
    sizeField: fc.option(fc.oneof(fc.nat({ max: 3000 }), fc.constant(8 ** 11 - 1)), { freq: 5 }),
    badChecksum: fc.boolean().map((b) => b && Math.random() < 0.1),
    pax: fc.option(
      fc.dictionary(fc.constantFrom("path", "linkpath", "size", "uid", "mtime", "x"), target),
    ),
  }, { requiredKeys: ["name", "type"] }).map((e) => {
    const { pax, sizeField, ...rest } = e as CraftEntry & { pax?: Record<string, string> | null };
    const out: CraftEntry = { ...rest };
    if (sizeField !== null && sizeField !== undefined) out.sizeField = sizeField;
    if (pax) {
      out.type = "x";
      out.data = paxRecords(pax);
    }
    return out;
  });
}

/** The tar a hostile layer is made of: crafted entries (maybe no end marker), or any bytes. */
function tarBytes(ctx: Ctx): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.tuple(fc.array(tarEntry(ctx), { minLength: 1, maxLength: 6 }), fc.boolean())
        .map(
          ([entries, end]) => {
            try {
              return craftTar(entries, end);
            } catch {
              return craftTar([{ name: "fallback" }]);
            }
          },
        ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 3000 }) },
    {
      weight: 1,
      arbitrary: fc.constant(0).map(() =>
        craftTar([
          { name: "evil", type: "2", linkname: ctx.victim },
          { name: `evil/${canary(ctx.seed)}`, data: "escaped" },
        ])
      ),
    },
  );
}

/** Loads a manifest that references `tar`, then sends the layer by AddBlob. */
export const tarLayers: Property<{ tar: Uint8Array; via: "AddBlob" | "chunks" | "stream" }> = {
  name: "tar",
  weight: 10,
  arb: (ctx) =>
    fc.record({ tar: tarBytes(ctx), via: fc.constantFrom("AddBlob", "chunks", "stream") }),
  async run(ctx, x) {
    const w = ctx.w;
    const digest = `sha384/${await sha384hex(x.tar)}`;
    const text = canonicalJson(w.busyboxManifest({ layers: [digest] }));
    const m = await addSigned(w, text, 1);
    if (!m.ok) return { unearned: `AddManifest of a layer reference: ${describe(m)}` };
    if (x.via === "AddBlob") {
      return earnedOnly(
        await call((signal) => w.c.addBlob({ alg: 2, data: x.tar }, { signal })),
        "AddBlob",
      );
    }
    const b = await call((signal) =>
      w.c.beginBlob({ digest, size: BigInt(x.tar.length) }, { signal })
    );
    if (!b.ok) return { unearned: `BeginBlob: ${describe(b)}` };
    const id = b.value.uploadId;
    if (x.via === "chunks") {
      for (let off = 0; off < x.tar.length; off += 1000) {
        const r = await call((signal) =>
          w.c.writeBlob({
            uploadId: id,
            offset: BigInt(off),
            data: x.tar.subarray(off, off + 1000),
          }, {
            signal,
          })
        );
        // A refused archive is refused at the chunk that shows it (the upload is discarded).
        if (!r.ok) {
          const v = earnedOnly(r, `WriteBlob at ${off}`);
          if (v.hang || v.unearned) return v;
          break;
        }
      }
    } else {
      const r = await w.raw(`/acon.grpc.AconService/blobs/${id}`, {
        method: "PUT",
        headers: { "content-range": `bytes 0-*/${x.tar.length}` },
        body: x.tar as Uint8Array<ArrayBuffer>,
      });
      const u = unearnedRaw(r);
      if (u) return u === "hang" ? { hang: true } : { unearned: `PUT: ${u}` };
    }
    return earnedOnly(
      await call((signal) => w.c.commitBlob({ uploadId: id }, { signal })),
      "CommitBlob",
    );
  },
};

type UploadOp =
  | { op: "write"; at: "next" | "retry" | "gap" | "any"; n: number; any: bigint }
  | {
    op: "put";
    at: "next" | "gap" | "any";
    header: "range" | "query" | "bad";
    n: number;
    bad: string;
  }
  | { op: "status" }
  | { op: "commit" }
  | { op: "foreign"; id: string };

/**
 * The chunked and streamed upload driven by a random sequence of writes and PUTs at the right
 * offset, retries, gaps, wild offsets and bad ranges. The model: `received` only grows, by
 * exactly what was appended at the right offset; refused operations leave the upload intact, so
 * it then takes the rest and commits.
 */
export const uploadRanges: Property<{ size: number; ops: UploadOp[]; declare: boolean }> = {
  name: "upload",
  weight: 8,
  arb: (ctx) =>
    fc.record({
      size: fc.nat({ max: 6000 }),
      declare: fc.boolean(),
      ops: fc.array(
        fc.oneof(
          {
            weight: 4,
            arbitrary: fc.record({
              op: fc.constant("write" as const),
              at: fc.constantFrom(
                "next" as const,
                "next" as const,
                "retry" as const,
                "gap" as const,
                "any" as const,
              ),
              n: fc.nat({ max: 3000 }),
              any: fc.bigInt({ min: 0n, max: U64 }),
            }),
          },
          {
            weight: 2,
            arbitrary: fc.record({
              op: fc.constant("put" as const),
              at: fc.constantFrom("next" as const, "gap" as const, "any" as const),
              header: fc.constantFrom("range" as const, "query" as const, "bad" as const),
              n: fc.nat({ max: 3000 }),
              bad: fc.oneof(
                fc.constantFrom(
                  "bytes -1-*/10",
                  "bytes 0-*/-5",
                  "bytes */*",
                  "bytes 99999999999999999-*/1",
                  "lines 0-1/2",
                ),
                // What an HTTP header can carry (fetch refuses the rest before sending).
                hostileString(ctx).map((x) => x.replace(/[^\x20-\x7e]/g, "?")),
              ),
            }),
          },
          { weight: 1, arbitrary: fc.constant({ op: "status" as const }) },
          { weight: 1, arbitrary: fc.constant({ op: "commit" as const }) },
          {
            weight: 1,
            arbitrary: hostileString(ctx).map((id) => ({ op: "foreign" as const, id })),
          },
        ),
        { maxLength: 8 },
      ),
    }),
  async run(ctx, x) {
    const w = ctx.w;
    // A real small layer referenced by a loaded manifest, so an honest upload can commit.
    const tar = craftTar([{ name: "f", data: new Uint8Array(x.size).fill(7) }]);
    const digest = `sha384/${await sha384hex(tar)}`;
    const m = await addSigned(w, canonicalJson(w.busyboxManifest({ layers: [digest] })), 1);
    if (!m.ok) return { unearned: `AddManifest: ${describe(m)}` };
    const b = await call((signal) =>
      w.c.beginBlob({ digest, size: x.declare ? BigInt(tar.length) : 0n }, { signal })
    );
    if (!b.ok) return { unearned: `BeginBlob: ${describe(b)}` };
    const id = b.value.uploadId;
    let received = 0;
    const chunks: [number, number][] = [];
    let gone = false; // committed, or cancelled by the daemon
    const ops = async (): Promise<Verdict | null> => {
      for (const op of x.ops) {
        if (op.op === "foreign") {
          const r = await call((signal) => w.c.blobStatus({ uploadId: op.id }, { signal }));
          if (r.ok && op.id !== id) {
            return { wrong: `BlobStatus of unknown id ${show(op.id)} answered` };
          }
          const v = earnedOnly(r, "BlobStatus foreign");
          if (v.hang || v.unearned) return v;
          continue;
        }
        if (op.op === "status") {
          const r = await call((signal) => w.c.blobStatus({ uploadId: id }, { signal }));
          if (r.ok && Number(r.value.received) !== received) {
            return { wrong: `BlobStatus says ${r.value.received}, ${received} appended` };
          }
          if (!r.ok) {
            const v = earnedOnly(r, "BlobStatus");
            if (v.hang || v.unearned) return v;
            if (!gone) return { unearned: `BlobStatus of a live upload: ${describe(r)}` };
          }
          continue;
        }
        if (op.op === "commit") {
          const r = await call((signal) => w.c.commitBlob({ uploadId: id }, { signal }));
          const complete = !gone && received === tar.length;
          if (complete && !r.ok) {
            return { unearned: `CommitBlob of a complete upload: ${describe(r)}` };
          }
          if (r.ok && received !== tar.length) {
            return { wrong: `CommitBlob of ${received}/${tar.length} bytes succeeded` };
          }
          const v = earnedOnly(r, "CommitBlob");
          if (v.hang || v.unearned) return v;
          if (r.ok) gone = true;
          if (!r.ok && received !== tar.length) {
            // A failed commit may or may not keep the upload; re-read it.
            const s = await call((signal) => w.c.blobStatus({ uploadId: id }, { signal }));
            if (!s.ok) gone = true;
          }
          continue;
        }
        const start = op.at === "next"
          ? received
          : op.at === "retry"
          ? (chunks.length ? chunks[op.n % chunks.length][0] : received) // nothing to retry: next
          : op.at === "gap"
          ? received + 1 + (op.n % 100)
          : op.op === "write"
          ? Number(op.any % BigInt(Number.MAX_SAFE_INTEGER))
          : op.n * 7919;
        // A retry resends an earlier chunk exactly (same offset, same length: a no-op).
        const len = op.at === "retry" && chunks.length ? chunks[op.n % chunks.length][1] : op.n;
        const data = tar.slice(Math.min(start, tar.length), Math.min(start + len, tar.length));
        const extends_ = start <= received && start + data.length > received;
        if (op.op === "write") {
          const offset = op.at === "any" ? op.any : BigInt(start);
          const r = await call((signal) =>
            w.c.writeBlob({ uploadId: id, offset, data }, { signal })
          );
          if (r.ok) {
            const want = extends_ ? start + data.length : received;
            if (Number(r.value.received) !== want && !(start > received && data.length === 0)) {
              return {
                wrong:
                  `WriteBlob at ${start} (+${data.length}) says ${r.value.received}, want ${want}`,
              };
            }
            if (start === received && data.length) chunks.push([start, data.length]);
            received = Number(r.value.received);
          } else {
            const v = earnedOnly(r, `WriteBlob at ${offset}`);
            if (v.hang || v.unearned) return v;
            if (
              !gone && (op.at === "next" || op.at === "retry") && start + data.length <= tar.length
            ) {
              // Within the declared size, at or before the end: a write the upload must take.
              return { unearned: `WriteBlob ${op.at} at ${start}: ${describe(r)}` };
            }
          }
        } else {
          const headers: Record<string, string> = {};
          let path = `/acon.grpc.AconService/blobs/${id}`;
          if (op.header === "range") headers["content-range"] = `bytes ${start}-*/${tar.length}`;
          else if (op.header === "query") path += `?offset=${start}`;
          else headers["content-range"] = op.bad;
          const r = await w.raw(path, { method: "PUT", headers, body: data });
          const u = unearnedRaw(r);
          if (u) {
            return u === "hang"
              ? { hang: true }
              : { unearned: `PUT ${op.header} at ${start}: ${u}` };
          }
          if ("status" in r && r.status === 200) {
            const got = Number(JSON.parse(r.text).received);
            if (op.header === "bad" || start !== received) {
              return {
                wrong: `PUT (${op.header}, start ${start}, received ${received}) answered 200`,
              };
            }
            if (got !== received + data.length) {
              return { wrong: `PUT says ${got}, want ${received + data.length}` };
            }
            received = got;
          } else {
            if (!gone && op.header !== "bad" && start === received) {
              return {
                unearned: `PUT at the right offset ${start}: ${"status" in r ? r.text : ""}`,
              };
            }
          }
        }
      }
      return null;
    };
    const early = await ops();
    if (early) {
      // Release the upload (best effort) so that it does not hold a slot and a staging directory.
      if (!gone) await finishUpload(w, id, tar);
      return early;
    }
    // Whatever was refused on the way, the upload still takes the rest and commits.
    if (gone) return {};
    for (let off = received; off < tar.length; off += 4096) {
      const r = await call((signal) =>
        w.c.writeBlob({ uploadId: id, offset: BigInt(off), data: tar.slice(off, off + 4096) }, {
          signal,
        })
      );
      if (!r.ok) {
        return {
          unearned: `completing at ${off} after ${show(x.ops.map((o) => o.op))}: ${describe(r)}`,
        };
      }
    }
    const r = await call((signal) => w.c.commitBlob({ uploadId: id }, { signal }));
    if (!r.ok) return { unearned: `commit after ${show(x.ops.map((o) => o.op))}: ${describe(r)}` };
    return {};
  },
};

async function finishUpload(w: World, id: string, tar: Uint8Array): Promise<void> {
  const s = await call((signal) => w.c.blobStatus({ uploadId: id }, { signal }));
  if (!s.ok) return;
  for (let off = Number(s.value.received); off < tar.length; off += 4096) {
    const r = await call((signal) =>
      w.c.writeBlob({ uploadId: id, offset: BigInt(off), data: tar.slice(off, off + 4096) }, {
        signal,
      })
    );
    if (!r.ok) return;
  }
  await call((signal) => w.c.commitBlob({ uploadId: id }, { signal }));
}

/**
 * Exec with hostile commands, arguments, envs, stdin, capture sizes and short timeouts (timeout
 * 0, the pty, is `exec-pty`). Echo with plain words and Cat must give their exact output.
 */
export const execArgs: Property<{
  command: string;
  args: string[];
  envs: string[];
  stdin: Uint8Array;
  timeout: number;
  capture: bigint;
  target: "runner" | "other";
  other: number;
}> = {
  name: "exec",
  weight: 10,
  arb: (ctx) =>
    fc.record({
      command: fc.oneof(
        fc.constantFrom("Echo", "Echo", "Cat", "Cat", "Id", "Env", "Stderr", "Big", "Spawn"),
        fc.constantFrom(
          "../../../bin/sh",
          "/bin/sh",
          "Echo/..",
          "sh",
          "",
          "Echo\0",
          "ECHO",
          ".",
          "..",
        ),
        hostileString(ctx),
      ),
      args: fc.oneof(
        fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { maxLength: 5 }),
        fc.array(hostileString(ctx), { maxLength: 5 }),
        fc.constant(["200000"]).map((a) => [...a]),
      ),
      envs: fc.array(envEntry(ctx), { maxLength: 4 }),
      stdin: fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat({ max: 300000 }).map((n) => new Uint8Array(n).fill(65)),
      ),
      timeout: fc.integer({ min: 1, max: 3 }),
      capture: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1n << 20n }), fc.constant(U64)),
      target: fc.constantFrom(
        "runner" as const,
        "runner" as const,
        "runner" as const,
        "other" as const,
      ),
      other: fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1), fc.nat()),
    }),
  async run(ctx, x) {
    const w = ctx.w;
    const runner = await w.ensureRunner();
    const id = x.target === "runner" ? runner : x.other;
    const a = await call((signal) =>
      w.c.exec({
        containerId: id,
        command: x.command,
        arguments: x.args,
        envs: x.envs,
        stdin: x.stdin,
        timeout: BigInt(x.timeout),
        captureSize: x.capture,
      }, { signal })
    );
    const v = earnedOnly(a, `Exec ${show(x.command)} ${show(x.args)}`);
    if (v.hang || v.unearned || !a.ok) return v;
    const plainEnv = x.envs.every((e) => /^PATH=\/bin$/.test(e)) || x.envs.length === 0;
    const cap = x.capture === 0n
      ? 128 * 1024
      : Number(x.capture > 1n << 30n ? 1n << 30n : x.capture);
    if (x.command === "Echo" && plainEnv && x.args.every((s) => /^[a-z0-9]{1,8}$/.test(s))) {
      const want = x.args.join(" ") + "\n";
      const got = dec.decode(a.value.stdout);
      if (want.length <= cap && got !== want) {
        return { wrong: `Echo ${show(x.args)} gave ${show(got)}` };
      }
    }
    if (x.command === "Cat" && plainEnv && x.stdin.length <= cap && x.stdin.length < 60000) {
      const got = a.value.stdout;
      if (got.length !== x.stdin.length || got.some((b, i) => b !== x.stdin[i])) {
        return { wrong: `Cat of ${x.stdin.length} bytes gave ${got.length}` };
      }
    }
    return {};
  },
};

/** Kill and Restart with hostile ids, signals and timeouts; Kill with an unlisted signal is refused. */
export const killRestart: Property<
  {
    verb: "Kill" | "Restart";
    target: "runner" | "other";
    other: number;
    signal: number;
    timeout: bigint;
  }
> = {
  name: "kill-restart",
  weight: 6,
  arb: () =>
    fc.record({
      verb: fc.constantFrom("Kill" as const, "Restart" as const),
      target: fc.constantFrom("runner" as const, "runner" as const, "other" as const),
      other: fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1), fc.nat()),
      signal: fc.oneof(
        fc.constantFrom(0, 9, -9, 15, -15, 10, 19, -19, 2 ** 31 - 1, -(2 ** 31)),
        fc.integer({ min: -70, max: 70 }),
      ),
      timeout: fc.oneof(fc.bigInt({ min: 0n, max: 3n }), fc.constant(U64)),
    }),
  async run(ctx, x) {
    const w = ctx.w;
    const runner = await w.ensureRunner();
    const id = x.target === "runner" ? runner : x.other;
    if (x.verb === "Kill") {
      const a = await call((signal) =>
        w.c.kill({ containerId: id, signalNum: x.signal }, { signal })
      );
      const listed = [9, -9, 15, -15, 10].includes(x.signal);
      if (a.ok && id === runner && !listed) {
        return { wrong: `Kill with unlisted signal ${x.signal} accepted` };
      }
      if (
        !a.ok && id === runner && listed && a.ok === false && "code" in a &&
        a.code !== Code.NotFound &&
        a.code !== Code.FailedPrecondition
      ) {
        return { unearned: `Kill ${x.signal} of the runner: ${describe(a)}` };
      }
      return earnedOnly(a, `Kill ${id} ${x.signal}`);
    }
    // Restart's own timeout bounds it: a hang is beyond timeout + the suite's margin.
    const limit = Number(x.timeout > 60n ? 60n : x.timeout) * 1000 + HANG_MS;
    const a = await call(
      (signal) => w.c.restart({ containerId: id, timeout: x.timeout }, { signal }),
      limit,
    );
    return earnedOnly(a, `Restart ${id} timeout ${x.timeout}`);
  },
};

/** Exec with timeout 0 asks for a pty: refused unless interactive mode is on (issue 10, item 12). */
export const execPty: Property<{ command: string }> = {
  name: "exec-pty",
  weight: 1,
  arb: () => fc.record({ command: fc.constantFrom("Sh", "Echo", "Cat") }),
  async run(ctx, x) {
    const w = ctx.w;
    const id = await w.ensureRunner();
    const a = await call((signal) =>
      w.c.exec({ containerId: id, command: x.command, arguments: ["exit 0"], timeout: 0n }, {
        signal,
      })
    );
    if (a.ok) {
      // Clean up the session (kill its process group) so it does not pile up.
      const i = await w.c.inspect({ containerId: id });
      for (const s of i.info[0]?.sessions ?? []) {
        try {
          Deno.kill(s.pid, "SIGKILL");
        } catch { /* gone */ }
      }
      return { wrong: `pty Exec ${x.command} granted with interactive mode off` };
    }
    return earnedOnly(a, "Exec timeout 0");
  },
};

/** Frames to <root>/shared/acon.sock from a host process: valid, mutated, garbage, cut. */
export const ipcFrames: Property<{
  kind: "report" | "set" | "garbage" | "mutated";
  requestType: number;
  type: number;
  data: Uint8Array;
  nonce: [bigint, bigint];
  cut: number | null;
  sizeLie: number | null;
  twice: boolean;
}> = {
  name: "ipc",
  weight: 10,
  arb: () =>
    fc.record({
      kind: fc.constantFrom(
        "report" as const,
        "set" as const,
        "garbage" as const,
        "mutated" as const,
      ),
      requestType: fc.oneof(fc.constantFrom(0, 1), fc.nat()),
      type: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer()),
      data: fc.oneof(
        fc.string({ maxLength: 64 }).map((s) => enc.encode(s)),
        fc.uint8Array({ maxLength: 256 }),
        fc.nat({ max: 1 << 20 }).map((n) => new Uint8Array(n).fill(0x41)),
      ),
      nonce: fc.tuple(fc.bigInt({ min: 0n, max: U64 }), fc.bigInt({ min: 0n, max: U64 })),
      cut: fc.option(fc.nat({ max: 60 }), { freq: 4 }),
      sizeLie: fc.option(
        fc.oneof(fc.nat({ max: 64 }), fc.constant(0xffffffff), fc.constant(0x100001)),
        { freq: 4 },
      ),
      twice: fc.boolean(),
    }),
  async run(ctx, x) {
    const path = `${ctx.w.root}/shared/acon.sock`;
    let msg: Uint8Array<ArrayBuffer>;
    if (x.kind === "report") {
      msg = encodeGetReportReq(x.requestType, x.nonce[0], x.nonce[1], x.type, x.data);
    } else if (x.kind === "set") msg = encodeSetDataReq(x.type, x.data);
    else if (x.kind === "garbage") msg = new Uint8Array(x.data);
    else {
      msg = encodeGetReportReq(1, 1n, 2n, 2, "x");
      new DataView(msg.buffer).setInt32(0, x.requestType % 5 - 1, true);
    }
    if (x.sizeLie !== null && msg.length >= 8) {
      new DataView(msg.buffer).setUint32(4, x.sizeLie, true);
    }
    if (x.cut !== null) msg = msg.slice(0, x.cut);
    const valid = x.cut === null && x.sizeLie === null && (x.kind === "report" || x.kind === "set");
    const replies = await exchange(path, x.twice ? [msg, msg] : [msg]);
    if ("hang" in replies) return { hang: true };
    if ("transport" in replies) return { unearned: `socket: ${replies.transport}` };
    if (replies.bytes.length === 0) {
      return { unearned: `no answer to ${x.kind} (${msg.length} bytes)` };
    }
    let r;
    try {
      r = decodeResponse(firstFrame(replies.bytes));
    } catch (e) {
      return { unearned: `unframed answer to ${x.kind}: ${(e as Error).message}` };
    }
    if (!valid) return {};
    const dataOk = x.type >= 0 && x.type <= 2 && isUtf8(cutAtNul(x.data));
    if (x.kind === "set") {
      // No container is calling: set data is refused as ACON does.
      if (r.kind !== "error" || r.request !== CMD_SET_DATA) {
        return { wrong: `set data from the host: ${r.kind}` };
      }
      return {};
    }
    if (dataOk && (x.requestType === 0 || x.requestType === 1) && msg.length <= 1 << 20) {
      if (r.kind !== "report") {
        return {
          wrong: `valid get_report (${msg.length} bytes, type ${x.type}, request type ` +
            `${x.requestType}, sent ${x.twice ? "twice" : "once"}) answered ${show(r)}`,
        };
      }
    } else if (r.kind === "report" && !dataOk) {
      return { wrong: `get_report with bad data (type ${x.type}) answered a report` };
    } else if (r.kind === "error" && r.request !== CMD_GET_REPORT) {
      return { wrong: `error for request ${r.request}` };
    }
    return {};
  },
};

function cutAtNul(b: Uint8Array): Uint8Array {
  const i = b.indexOf(0);
  return i >= 0 ? b.subarray(0, i) : b;
}
function isUtf8(b: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}
function firstFrame(b: Uint8Array): Uint8Array {
  if (b.length < 8) return b;
  const size = new DataView(b.buffer, b.byteOffset).getUint32(4, true);
  return b.subarray(0, Math.min(size, b.length));
}

/** Writes the messages, half-closes, reads to the end (or until HANG_MS). */
async function exchange(
  path: string,
  msgs: Uint8Array[],
): Promise<{ bytes: Uint8Array } | { hang: true } | { transport: string }> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    return { transport: (e as Error).message };
  }
  const timer = setTimeout(() => conn.close(), HANG_MS);
  let timedOut = false;
  const t0 = Date.now();
  try {
    // Whole messages: one write may take only part of a large one (a short write on the socket),
    // which would send a truncated request while the check holds it valid.
    for (const m of msgs) {
      for (let o = 0; o < m.length;) {
        const n = await conn.write(m.subarray(o)).catch(() => 0);
        if (n === 0) break; // the daemon closed its end (it answered a refusal early)
        o += n;
      }
    }
    await conn.closeWrite().catch(() => {});
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(1 << 16);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
    timedOut = Date.now() - t0 >= HANG_MS;
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) out.set(p, (o += p.length) - p.length);
    return timedOut ? { hang: true } : { bytes: out };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

export const PROPERTIES: Property<never>[] = [
  manifestSigned,
  manifestForged,
  policy,
  jsonBodies,
  protoBodies,
  grpcBodies,
  restBodies,
  envLists,
  tarLayers,
  uploadRanges,
  execArgs,
  killRestart,
  execPty,
  ipcFrames,
] as unknown as Property<never>[];
