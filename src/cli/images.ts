/** aconctl image commands: add-manifest, push, add-blob, finalize, get-manifest. */
import { parseArgs } from "node:util";
import { type Command, printJson, UsageError } from "./command.ts";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import { type AconClient, type RawHttp, rawHttpOf } from "./client.ts";
import { BLOB_STREAM_PREFIX, streamContentRange } from "../api/wire.ts";
import { addImageManifest, type LoadedImageFiles, loadImage } from "./image/imagedir.ts";
import { findUpload, forgetUpload, loadUploads, rememberUpload } from "./upload_state.ts";
import { progressText } from "./progress.ts";
import { PUT_PIECE, putRaw } from "./raw_put.ts";

const CHUNK = 4 * 1024 * 1024;

async function readFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

async function addManifest(client: AconClient, m: string, sig: string, cert: string) {
  const manifest = new TextDecoder().decode(await readFile(m, "manifest"));
  return await client.addManifest({
    manifest,
    signature: await readFile(sig, "signature"),
    certificate: await readFile(cert, "certificate"),
  });
}

/**
 * Progress on stderr, when it is a terminal and not --quiet: redrawn at most every 100 ms and
 * at the end; `from` is what acond already had (a resumed upload).
 */
function progressLine(
  digest: string,
  size: number,
  from: number,
): ((done: number) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  const enc = new TextEncoder();
  const t0 = performance.now();
  let drawn = -Infinity;
  return (done) => {
    const now = performance.now();
    if (now - drawn < 100 && done < size) return;
    drawn = now;
    const line = progressText({
      name: `${digest.slice(0, 19)}…`,
      size,
      done,
      startedAt: from,
      elapsedMs: now - t0,
    });
    Deno.stderr.writeSync(enc.encode(`\r${line}\x1b[K`));
  };
}

/** The error of a failed raw PUT: Connect's JSON error shape, or the HTTP status. */
function putError(status: number, text: string): ConnectError {
  try {
    const j = JSON.parse(text);
    if (typeof j.code === "string" && typeof j.message === "string") {
      return new ConnectError(j.message, codeFromString(j.code) ?? Code.Unknown);
    }
  } catch { /* not JSON: below */ }
  return new ConnectError(`HTTP ${status} from the blob stream: ${text.trim()}`, Code.Unknown);
}

/** Time for --limit-rate (a fake one in the tests). */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * What each piece of a PUT's body goes through on its way out, from `offset`: --limit-rate's
 * pacing (no faster than `opts.rate` bytes a second since this request began), the progress line
 * and the count of bytes sent. Called with a piece's length before the piece is sent.
 */
export function pacer(
  offset: number,
  opts: SendOptions,
  progress?: (done: number) => void,
  clock: Clock = realClock,
): (n: number) => Promise<void> {
  let done = offset;
  const t0 = clock.now();
  return async (n) => {
    if (opts.rate) {
      const due = t0 + ((done - offset + n) * 1000) / opts.rate;
      const wait = due - clock.now();
      if (wait > 0) await clock.sleep(wait);
    }
    // Counted whether or not a progress line is drawn: `progress?.(done += …)` skipped the sum
    // without one (-q, stderr not a terminal), and --limit-rate then paced nothing.
    done += n;
    progress?.(done);
    if (opts.sent) opts.sent.bytes += n;
  };
}

/**
 * Streams the file from `offset` to the end as one raw PUT into the upload (docs/layers.md);
 * returns how much the upload has received.
 */
async function putFrom(
  http: RawHttp,
  uploadId: string,
  path: string,
  offset: number,
  size: number,
  progress?: (done: number) => void,
  opts: SendOptions = {},
): Promise<number> {
  const f = await Deno.open(path);
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const pace = pacer(offset, opts, progress);
    const conn = await http.dial();
    const res = await putRaw(conn, {
      target: `${BLOB_STREAM_PREFIX}${uploadId}`,
      host: http.host,
      headers: {
        "content-type": "application/octet-stream",
        "content-range": streamContentRange(offset, size),
      },
      length: size - offset,
      // A rate limit paces at least ten pieces a second (a smooth progress line, an even rate).
      piece: opts.rate
        ? Math.max(4096, Math.min(PUT_PIECE, Math.floor(opts.rate / 10)))
        : PUT_PIECE,
      async next(buf) {
        let n = 0;
        while (n < buf.length) {
          const r = await f.read(buf.subarray(n));
          if (r === null) break;
          n += r;
        }
        if (n > 0) await pace(n);
        return n;
      },
    });
    const text = new TextDecoder().decode(res.body);
    if (res.status !== 200) throw putError(res.status, text);
    return Number(JSON.parse(text).received);
  } finally {
    f.close();
  }
}

/** Worth another try from where the upload stands: the connection broke, or it was out of step. */
function resumable(e: unknown): boolean {
  if (!(e instanceof ConnectError)) return true; // transport: the connection broke
  if (e.code === Code.FailedPrecondition) return true; // busy: the daemon has not seen the cut yet
  return /^(Wrong offset|Request body broke off)/.test(e.rawMessage);
}

const RETRIES = 5;

export interface SendOptions {
  /** Bytes a second at most (push --limit-rate). */
  rate?: number;
  /** Counts the bytes sent. */
  sent?: { bytes: number };
}

/** What uploading one layer did (push --json). */
export interface LayerUpload {
  digest: string;
  size: number;
  /** Where it resumed an upload begun by an earlier, interrupted push (0: a new upload). */
  resumedFrom: number;
  /** Bytes this push sent. */
  sent: number;
}

/**
 * Uploads a layer: BeginBlob (or, when an earlier push of it was interrupted, that upload where
 * BlobStatus says it stands: ./upload_state.ts), the file (sendLayer), CommitBlob.
 */
export async function uploadLayer(
  client: AconClient,
  path: string,
  digest: string,
  quiet: boolean,
  opts: SendOptions = {},
): Promise<LayerUpload> {
  const size = (await Deno.stat(path)).size;
  const addr = rawHttpOf(client)?.addr;
  let uploadId: string | undefined;
  let received = 0;
  const saved = addr ? findUpload(addr, digest, size) : undefined;
  if (saved) {
    try {
      received = Number((await client.blobStatus({ uploadId: saved.uploadId })).received);
      uploadId = saved.uploadId;
      if (!quiet) {
        console.error(
          `aconctl: resuming the upload of ${digest.slice(0, 19)}… at ${received} of ${size} bytes`,
        );
      }
    } catch {
      if (addr) forgetUpload(addr, digest, size); // expired, refused or a restarted daemon
    }
  }
  if (!uploadId) {
    uploadId = (await client.beginBlob({ digest, size: BigInt(size) })).uploadId;
    if (addr) {
      rememberUpload({ addr, digest, size, uploadId, path, savedMs: Date.now() });
    }
  }
  const progress = quiet ? undefined : progressLine(digest, size, received);
  const sent = opts.sent ?? { bytes: 0 };
  await sendLayer(client, uploadId, path, size, progress, { ...opts, sent }, received);
  if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  await client.commitBlob({ uploadId, alg: 0 });
  if (addr) forgetUpload(addr, digest, size);
  return { digest, size, resumedFrom: received, sent: sent.bytes };
}

/**
 * Sends a file into a begun upload from `from`: streamed as raw PUTs, resumed from BlobStatus's
 * `received` after a failure. A client without plain HTTP access (not made by connect()) falls
 * back to WriteBlob chunks.
 */
export async function sendLayer(
  client: AconClient,
  uploadId: string,
  path: string,
  size: number,
  progress?: (done: number) => void,
  opts: SendOptions = {},
  from = 0,
): Promise<void> {
  const http = rawHttpOf(client);
  if (!http) return await writeChunks(client, uploadId, path, progress);
  let received = from;
  if (received >= size) return;
  for (let failures = 0;;) {
    try {
      received = await putFrom(http, uploadId, path, received, size, progress, opts);
      if (received >= size) return;
    } catch (e) {
      if (!resumable(e) || ++failures > RETRIES) throw e;
      await new Promise((r) => setTimeout(r, 100 * failures));
      // Throws why, if the daemon discarded the upload (a refused archive).
      received = Number((await client.blobStatus({ uploadId })).received);
    }
  }
}

/**
 * The Connect-only path: WriteBlob chunks. The next chunk is read from the file while the current
 * one travels (two buffers, used in turn).
 */
async function writeChunks(
  client: AconClient,
  uploadId: string,
  path: string,
  progress?: (done: number) => void,
): Promise<void> {
  const f = await Deno.open(path);
  const bufs = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
  let turn = 0;
  const readChunk = async (): Promise<Uint8Array> => {
    const buf = bufs[turn++ % 2];
    let n = 0;
    while (n < buf.length) {
      const r = await f.read(buf.subarray(n));
      if (r === null) break;
      n += r;
    }
    return buf.subarray(0, n);
  };
  let next: Promise<Uint8Array> | undefined;
  try {
    let offset = 0;
    next = readChunk();
    for (;;) {
      const data = await next;
      if (data.length === 0) break;
      next = readChunk();
      await client.writeBlob({ uploadId, offset: BigInt(offset), data });
      offset += data.length;
      progress?.(offset);
    }
  } finally {
    await next?.catch(() => {}); // no read left running on the file being closed
    f.close();
  }
}

/** push --limit-rate: `1000`, `512k`, `2m`. */
export function parseRate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^([0-9]+)([kKmM]?)$/.exec(v);
  if (!m || Number(m[1]) === 0) {
    throw new UsageError(`--limit-rate takes bytes a second (e.g. 512k, 2m), not "${v}"`);
  }
  const unit = m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1024 * 1024 : 1;
  return Number(m[1]) * unit;
}

export interface PushResult {
  imageId: string;
  /** Missing layers no file was given for. */
  unresolved: string[];
  uploads: LayerUpload[];
}

/** AddManifest, then every missing layer the image has a file for (push and run). */
export async function pushImage(
  client: AconClient,
  img: LoadedImageFiles,
  opts: { quiet: boolean; rate?: number },
): Promise<PushResult> {
  const r = await addImageManifest(client, img);
  const unresolved: string[] = [];
  const uploads: LayerUpload[] = [];
  for (const missing of r.missingLayers) {
    const file = img.layers.get(missing);
    if (!file) unresolved.push(missing);
    else uploads.push(await uploadLayer(client, file, missing, opts.quiet, { rate: opts.rate }));
  }
  return { imageId: r.imageId, unresolved, uploads };
}

export const imageCommands: Command[] = [
  {
    name: "add-manifest",
    usage: "add-manifest MANIFEST SIGNATURE CERT.der",
    summary: "load a signed manifest; prints the image id and the missing layers",
    async run(c) {
      const [m, s, cert] = c.args;
      if (!cert) throw new UsageError("add-manifest needs MANIFEST SIGNATURE CERT");
      const r = await addManifest(c.client(), m, s, cert);
      if (c.json) printJson({ imageId: r.imageId, missingLayers: r.missingLayers });
      else {
        console.log(r.imageId);
        for (const l of r.missingLayers) console.log(`missing ${l}`);
      }
      return 0;
    },
  },
  {
    name: "push",
    usage: "push DIR | MANIFEST SIGNATURE CERT.der [LAYER.tar ...] [--start] [--env K=V ...] " +
      "[--limit-rate BYTES] [-q]",
    summary:
      "add-manifest, then upload each missing layer (from the image directory DIR or the tars)",
    help: `An interrupted push (Ctrl-C, a killed aconctl, a lost connection) resumes: run it again
and each layer continues where acond's BlobStatus says its upload stands (uploads begun are
remembered in $ACONCTL_STATE_DIR, $XDG_STATE_HOME/aconctl or ~/.local/state/aconctl; acond forgets
an upload idle for 10 minutes or when it restarts). aconctl uploads lists them.
  --start             start a container once every layer is there (prints "container N")
  --env K=V           its environment (with --start; repeatable)
  --limit-rate BYTES  send at most BYTES a second (suffixes k, m: 512k, 2m)
  -q, --quiet         no progress bar (there is one only on a terminal anyway)
--json prints {imageId, unresolved, containerId, uploads: [{digest, size, resumedFrom, sent}]}.`,
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: {
          start: { type: "boolean" },
          env: { type: "string", multiple: true },
          quiet: { type: "boolean", short: "q" },
          "limit-rate": { type: "string" },
        },
        allowPositionals: true,
      });
      const img = await loadImage(positionals);
      const client = c.client();
      const rate = parseRate(values["limit-rate"]);
      const r = await pushImage(client, img, { quiet: values.quiet ?? false, rate });
      let containerId: number | undefined;
      if (values.start && r.unresolved.length === 0) {
        containerId = (await client.start({ imageId: r.imageId, envs: values.env ?? [] }))
          .containerId;
      }
      if (c.json) printJson({ ...r, containerId });
      else {
        console.log(r.imageId);
        for (const u of r.unresolved) console.error(`aconctl: no layer file given for ${u}`);
        if (containerId !== undefined) console.log(`container ${containerId}`);
      }
      return r.unresolved.length ? 1 : 0;
    },
  },
  {
    name: "uploads",
    usage: "uploads",
    summary: "layer uploads begun by an interrupted push, and where acond says each stands",
    async run(c) {
      const client = c.client();
      const addr = rawHttpOf(client)?.addr;
      const out = [];
      for (const u of loadUploads().filter((u) => u.addr === addr)) {
        let received: number | null = null;
        let error: string | undefined;
        try {
          received = Number((await client.blobStatus({ uploadId: u.uploadId })).received);
        } catch (e) {
          error = (e as Error).message;
        }
        out.push({
          digest: u.digest,
          size: u.size,
          received,
          uploadId: u.uploadId,
          path: u.path,
          error,
        });
      }
      if (c.json) printJson(out);
      else {
        if (out.length === 0) console.log("no uploads in progress");
        for (const u of out) {
          console.log(
            `${u.digest.slice(0, 19)}…  ${u.received ?? "?"} of ${u.size} bytes` +
              (u.error ? `  (${u.error}; the next push begins again)` : "") + `  ${u.path}`,
          );
        }
      }
      return 0;
    },
  },
  {
    name: "add-blob",
    usage: "add-blob LAYER.tar [--alg N]",
    summary: "upload one layer with the unary AddBlob (alg bitmask: 1 sha256, 2 sha384, 4 sha512)",
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: { alg: { type: "string", default: "2" } },
        allowPositionals: true,
      });
      if (!positionals[0]) throw new UsageError("add-blob needs LAYER.tar");
      const alg = Number(values.alg);
      if (!Number.isInteger(alg) || alg < 1 || alg > 7) throw new UsageError("--alg is 1..7");
      await c.client().addBlob({ alg, data: await readFile(positionals[0], "layer") });
      return 0;
    },
  },
  {
    name: "finalize",
    usage: "finalize",
    summary: "refuse further manifests (measured into RTMR3)",
    async run(c) {
      await c.client().finalize({});
      return 0;
    },
  },
  {
    name: "get-manifest",
    usage: "get-manifest IMAGE_ID [--cert-out FILE]",
    summary: "print a loaded image's manifest (and save its certificate)",
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: { "cert-out": { type: "string" } },
        allowPositionals: true,
      });
      if (!positionals[0]) throw new UsageError("get-manifest needs IMAGE_ID");
      const r = await c.client().getManifest({ imageId: positionals[0] });
      if (values["cert-out"]) await Deno.writeFile(values["cert-out"], r.certificate);
      console.log(r.manifest);
      return 0;
    },
  },
];
