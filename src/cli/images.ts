/** aconctl image commands: add-manifest, push, add-blob, finalize, get-manifest. */
import { parseArgs } from "node:util";
import { type Command, printJson, UsageError } from "./command.ts";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import { type AconClient, type RawHttp, rawHttpOf } from "./client.ts";
import { BLOB_STREAM_PREFIX, streamContentRange } from "../api/wire.ts";
import { addImageManifest, loadImage } from "./image/imagedir.ts";

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

/** Progress on stderr, when it is a terminal and not --quiet. */
function progressLine(digest: string, size: number): ((done: number) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  const enc = new TextEncoder();
  let last = -1;
  return (done) => {
    const pct = size ? Math.floor((done * 100) / size) : 100;
    if (pct === last) return;
    last = pct;
    Deno.stderr.writeSync(enc.encode(`\r${digest.slice(0, 19)}… ${pct}% (${done} bytes)`));
  };
}

/** The error of a failed raw PUT: Connect's JSON error shape, or the HTTP status. */
async function putError(res: Response): Promise<ConnectError> {
  const text = await res.text();
  try {
    const j = JSON.parse(text);
    if (typeof j.code === "string" && typeof j.message === "string") {
      return new ConnectError(j.message, codeFromString(j.code) ?? Code.Unknown);
    }
  } catch { /* not JSON: below */ }
  return new ConnectError(`HTTP ${res.status} from the blob stream: ${text.trim()}`, Code.Unknown);
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
): Promise<number> {
  const f = await Deno.open(path);
  // Aborted once the answer is read: a refusal can come while the body is still being sent.
  const done = new AbortController();
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    let body: ReadableStream<Uint8Array> = f.readable;
    if (progress) {
      let done = offset;
      body = body.pipeThrough(
        new TransformStream({
          transform(chunk, ctl) {
            progress(done += chunk.length);
            ctl.enqueue(chunk);
          },
        }),
      );
    }
    const res = await http.fetch(`${http.baseUrl}${BLOB_STREAM_PREFIX}${uploadId}`, {
      method: "PUT",
      body,
      signal: done.signal,
      headers: {
        "content-type": "application/octet-stream",
        "content-range": streamContentRange(offset, size),
      },
    });
    if (!res.ok) throw await putError(res);
    const st = await res.json();
    return Number(st.received);
  } finally {
    done.abort();
    try {
      f.close();
    } catch { /* closed with its stream */ }
  }
}

/** Worth another try from where the upload stands: the connection broke, or it was out of step. */
function resumable(e: unknown): boolean {
  if (!(e instanceof ConnectError)) return true; // transport: fetch's TypeError
  if (e.code === Code.FailedPrecondition) return true; // busy: the daemon has not seen the cut yet
  return /^(Wrong offset|Request body broke off)/.test(e.rawMessage);
}

const RETRIES = 5;

/**
 * Uploads a layer: BeginBlob, the file (sendLayer), CommitBlob.
 */
export async function uploadLayer(
  client: AconClient,
  path: string,
  digest: string,
  quiet: boolean,
): Promise<void> {
  const size = (await Deno.stat(path)).size;
  const st = await client.beginBlob({ digest, size: BigInt(size) });
  const progress = quiet ? undefined : progressLine(digest, size);
  await sendLayer(client, st.uploadId, path, size, progress);
  if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  await client.commitBlob({ uploadId: st.uploadId, alg: 0 });
}

/**
 * Sends a file into a begun upload: streamed as raw PUTs, resumed from BlobStatus's `received`
 * after a failure. A client without plain HTTP access (not made by connect()) falls back to
 * WriteBlob chunks.
 */
export async function sendLayer(
  client: AconClient,
  uploadId: string,
  path: string,
  size: number,
  progress?: (done: number) => void,
): Promise<void> {
  const http = rawHttpOf(client);
  if (!http) return await writeChunks(client, uploadId, path, progress);
  let received = 0;
  for (let failures = 0;;) {
    try {
      received = await putFrom(http, uploadId, path, received, size, progress);
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
    usage: "push DIR | MANIFEST SIGNATURE CERT.der [LAYER.tar ...] [--start] [--env K=V ...]",
    summary:
      "add-manifest, then upload each missing layer (from the image directory DIR or the tars)",
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: {
          start: { type: "boolean" },
          env: { type: "string", multiple: true },
          quiet: { type: "boolean", short: "q" },
        },
        allowPositionals: true,
      });
      const img = await loadImage(positionals);
      const client = c.client();
      const r = await addImageManifest(client, img);
      const byDigest = img.layers;
      const unresolved: string[] = [];
      for (const missing of r.missingLayers) {
        const file = byDigest.get(missing);
        if (!file) {
          unresolved.push(missing);
          continue;
        }
        await uploadLayer(client, file, missing, values.quiet ?? false);
      }
      let containerId: number | undefined;
      if (values.start && unresolved.length === 0) {
        containerId = (await client.start({ imageId: r.imageId, envs: values.env ?? [] }))
          .containerId;
      }
      if (c.json) printJson({ imageId: r.imageId, unresolved, containerId });
      else {
        console.log(r.imageId);
        for (const u of unresolved) console.error(`aconctl: no layer file given for ${u}`);
        if (containerId !== undefined) console.log(`container ${containerId}`);
      }
      return unresolved.length ? 1 : 0;
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
