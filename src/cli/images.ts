/** aconctl image commands: add-manifest, push, add-blob, finalize, get-manifest. */
import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { type Command, printJson, UsageError } from "./command.ts";
import type { AconClient } from "./client.ts";

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

/** sha384 of a file, streamed. */
async function sha384File(path: string): Promise<string> {
  const h = createHash("sha384");
  const f = await Deno.open(path);
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

/**
 * Uploads a layer in chunks (resumable), with progress on stderr when it is a terminal. The next
 * chunk is read from the file while the current one travels (two buffers, used in turn).
 */
export async function uploadLayer(
  client: AconClient,
  path: string,
  digest: string,
  quiet: boolean,
): Promise<void> {
  const size = (await Deno.stat(path)).size;
  const st = await client.beginBlob({ digest, size: BigInt(size) });
  const f = await Deno.open(path);
  const progress = !quiet && Deno.stderr.isTerminal();
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
    let offset = Number(st.received);
    await f.seek(offset, Deno.SeekMode.Start);
    next = readChunk();
    for (;;) {
      const data = await next;
      if (data.length === 0) break;
      next = readChunk();
      await client.writeBlob({ uploadId: st.uploadId, offset: BigInt(offset), data });
      offset += data.length;
      if (progress) {
        const pct = size ? Math.floor((offset * 100) / size) : 100;
        Deno.stderr.writeSync(
          new TextEncoder().encode(`\r${digest.slice(0, 19)}… ${pct}% (${offset} bytes)`),
        );
      }
    }
    if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    await client.commitBlob({ uploadId: st.uploadId, alg: 0 });
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
    usage: "push MANIFEST SIGNATURE CERT.der [LAYER.tar ...] [--start] [--env K=V ...]",
    summary: "add-manifest, then upload each missing layer found among the given tars",
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
      const [m, s, cert, ...layers] = positionals;
      if (!cert) throw new UsageError("push needs MANIFEST SIGNATURE CERT [LAYER.tar ...]");
      const client = c.client();
      const r = await addManifest(client, m, s, cert);
      const byDigest = new Map<string, string>();
      for (const l of layers) byDigest.set(`sha384/${await sha384File(l)}`, l);
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
