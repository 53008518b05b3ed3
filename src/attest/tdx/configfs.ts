/**
 * Quotes through configfs-tsm (Linux 6.7+, anchors §3.3): one report directory per request,
 * `provider` must be tdx_guest, `generation` read before and after so a concurrent writer is
 * detected, EBUSY from `outblob` retried, the directory removed whatever happens. File access goes
 * through TsmFs so tests can run it on a temporary tree that behaves like configfs.
 */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  read(path: string): Promise<Uint8Array>;
  write(path: string, data: Uint8Array): Promise<void>;
}

export const denoTsmFs: TsmFs = {
  mkdir: (p) => Deno.mkdir(p),
  // configfs removes an item's attribute files itself: a plain rmdir, never recursive.
  rmdir: (p) => Deno.remove(p),
  read: (p) => Deno.readFile(p),
  write: (p, d) => Deno.writeFile(p, d as Uint8Array<ArrayBuffer>),
};

export function isBusy(e: unknown): boolean {
  return e instanceof Deno.errors.Busy || (e as { code?: string })?.code === "EBUSY";
}

export interface TsmQuoteOptions {
  fs?: TsmFs;
  /** Attempts of reading outblob while the driver says EBUSY. */
  busyRetries?: number;
  sleep?: (ms: number) => Promise<void>;
}

let counter = 0;
const dec = new TextDecoder();

export class TsmError extends Error {}

/** A quote over reportData from `<root>/<fresh dir>`. */
export async function tsmQuote(
  root: string,
  reportData: Uint8Array,
  o: TsmQuoteOptions = {},
): Promise<Uint8Array> {
  if (reportData.length !== 64) throw new TsmError("inblob must be 64 bytes for TDX");
  const fs = o.fs ?? denoTsmFs;
  const sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const retries = o.busyRetries ?? 20;
  const dir = `${root}/acond-${Deno.pid}-${++counter}`;
  await fs.mkdir(dir);
  try {
    const provider = dec.decode(await fs.read(`${dir}/provider`)).trim();
    if (provider !== "tdx_guest") throw new TsmError(`configfs-tsm provider is "${provider}"`);
    const generation = async () => {
      const g = Number(dec.decode(await fs.read(`${dir}/generation`)).trim());
      if (!Number.isSafeInteger(g)) throw new TsmError("unreadable configfs-tsm generation");
      return g;
    };
    const before = await generation();
    await fs.write(`${dir}/inblob`, reportData);
    let out: Uint8Array | null = null;
    for (let attempt = 0; out === null; attempt++) {
      try {
        out = await fs.read(`${dir}/outblob`);
      } catch (e) {
        if (!isBusy(e) || attempt >= retries) throw e;
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    const after = await generation();
    if (after !== before + 1) {
      throw new TsmError(
        `configfs-tsm generation went ${before} → ${after}: another writer used the report`,
      );
    }
    if (out.length === 0) throw new TsmError("configfs-tsm returned an empty quote");
    return out;
  } finally {
    await fs.rmdir(dir).catch(() => {});
  }
}
