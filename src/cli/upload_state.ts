/**
 * Uploads in progress, remembered on the host so that a push that was interrupted (Ctrl-C, a
 * killed aconctl, a lost connection) resumes where the daemon's BlobStatus says it stands instead
 * of starting over. A small JSON file: `$ACONCTL_STATE_DIR` or `$XDG_STATE_HOME/aconctl` or
 * `~/.local/state/aconctl`, `uploads.json`, keyed by daemon address, layer digest and size. The
 * daemon forgets uploads idle for 10 minutes and on restart; an entry it no longer knows is
 * dropped and the upload begins again.
 */

export interface SavedUpload {
  addr: string;
  digest: string;
  size: number;
  uploadId: string;
  /** The layer file (for `aconctl uploads`). */
  path: string;
  savedMs: number;
}

export function stateDir(): string | undefined {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const dir = env("ACONCTL_STATE_DIR");
  if (dir) return dir;
  const xdg = env("XDG_STATE_HOME");
  if (xdg) return `${xdg}/aconctl`;
  const home = env("HOME");
  return home ? `${home}/.local/state/aconctl` : undefined;
}

function file(): string | undefined {
  const d = stateDir();
  return d ? `${d}/uploads.json` : undefined;
}

export function loadUploads(): SavedUpload[] {
  const f = file();
  if (!f) return [];
  try {
    const j = JSON.parse(Deno.readTextFileSync(f));
    return Array.isArray(j) ? j.filter((u) => typeof u?.uploadId === "string") : [];
  } catch {
    return []; // missing or unreadable: nothing to resume
  }
}

function save(list: SavedUpload[]): void {
  const f = file();
  if (!f) return;
  try {
    Deno.mkdirSync(f.slice(0, f.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    const tmp = `${f}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(list, null, 1) + "\n", { mode: 0o600 });
    Deno.renameSync(tmp, f);
  } catch (e) {
    console.error(`aconctl: cannot record the upload in ${f} (it will not resume): ${e}`);
  }
}

const same = (a: SavedUpload, addr: string, digest: string, size: number) =>
  a.addr === addr && a.digest === digest && a.size === size;

export function findUpload(addr: string, digest: string, size: number): SavedUpload | undefined {
  return loadUploads().find((u) => same(u, addr, digest, size));
}

export function rememberUpload(u: SavedUpload): void {
  save([...loadUploads().filter((x) => !same(x, u.addr, u.digest, u.size)), u]);
}

export function forgetUpload(addr: string, digest: string, size: number): void {
  const list = loadUploads();
  const kept = list.filter((x) => !same(x, addr, digest, size));
  if (kept.length !== list.length) save(kept);
}
