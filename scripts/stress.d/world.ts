/**
 * The stress suite's world: one real dist/acond --dev (tests/helpers/daemon.ts) on a root that
 * survives restarts, real signers (openssl keys, signed in process), the busybox layer and a
 * plain image loaded through the real API, a long-running "runner" container to Exec into, the
 * daemon's process figures (RSS, descriptors), and a bounded call helper that tells a hang from
 * an answer.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type AconClient, type DevDaemon, startDaemon } from "../../tests/helpers/daemon.ts";
import { AconService } from "../../src/gen/acon_pb.ts";
import { makeSigner } from "../../tests/helpers/pki.ts";
import { type FastSigner, fastSigner } from "../../tests/helpers/fastsign.ts";
import { baseManifest, canonicalJson } from "../../tests/helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../../tests/helpers/busybox.ts";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** How long one request may take before it counts as a hang (generous: 2 shared cores). */
export const HANG_MS = Number(Deno.env.get("STRESS_HANG_MS") ?? 20000);

/**
 * The bound on the world's plain calls (`w.c.x(...)` outside `call()`): set-up and checks that
 * expect an answer. One that never comes fails its check with a name instead of holding the run.
 */
export const PLAIN_MS = 3 * HANG_MS;

/**
 * `client` with every unary call that brings no signal of its own bounded by `ms` (client side
 * only: no timeout header, so the daemon sees the call as before). Streams are left as they are.
 */
export function bounded(client: AconClient, ms = PLAIN_MS): AconClient {
  return new Proxy(client, {
    get(target, name, receiver) {
      const f = Reflect.get(target, name, receiver);
      const m = typeof name === "string"
        ? AconService.method[name as keyof typeof AconService.method]
        : undefined;
      if (typeof f !== "function" || m?.methodKind !== "unary") return f;
      return async (input: unknown, options: { signal?: AbortSignal } = {}) => {
        if (options.signal) return await f.call(target, input, options);
        const signal = AbortSignal.timeout(ms);
        try {
          return await f.call(target, input, { ...options, signal });
        } catch (e) {
          if (signal.aborted) {
            throw new Error(`${String(name)}: no answer in ${ms} ms (a hang)`, { cause: e });
          }
          throw e;
        }
      };
    },
  });
}

/** What a call came back with: an answer, a Connect error, or nothing in time. */
export type Answer<T> =
  | { ok: true; value: T }
  | { ok: false; code: Code; message: string }
  | { ok: false; hang: true }
  | { ok: false; transport: string };

/** Codes a hostile or unlucky request can earn. Internal, Unknown, Unavailable, DataLoss never. */
export const EARNED = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.ResourceExhausted,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.DeadlineExceeded,
  Code.Aborted,
]);

export async function call<T>(
  f: (signal: AbortSignal) => Promise<T>,
  ms = HANG_MS,
): Promise<Answer<T>> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return { ok: true, value: await f(ac.signal) };
  } catch (e) {
    if (ac.signal.aborted) return { ok: false, hang: true };
    if (e instanceof ConnectError) {
      // connect-es reports a dropped connection or a non-Connect answer as Unknown/Unavailable
      // with the fetch error as the message; that too is an unearned answer.
      return { ok: false, code: e.code, message: e.rawMessage };
    }
    return { ok: false, transport: String((e as Error).message ?? e) };
  } finally {
    clearTimeout(timer);
  }
}

/** Connect's names of the earned codes (for raw HTTP answers). */
export const EARNED_NAMES = new Set(
  [...EARNED].map((c) => Code[c].replace(/[A-Z]/g, (m, i) => (i ? "_" : "") + m.toLowerCase())),
);

/** "" when a raw HTTP answer is one a hostile request may earn, else why not. */
export function unearnedRaw(
  a: { status: number; text: string } | { hang: true } | { transport: string },
): string {
  if ("hang" in a) return "hang";
  if ("transport" in a) return `transport: ${a.transport}`;
  if (a.status < 300) return "";
  let code = "";
  try {
    code = String(JSON.parse(a.text).code ?? "");
  } catch { /* not a Connect error body */ }
  if (code) {
    return EARNED_NAMES.has(code) ? "" : `HTTP ${a.status} ${code}: ${a.text.slice(0, 200)}`;
  }
  return a.status >= 400 && a.status < 500 ? "" : `HTTP ${a.status}: ${a.text.slice(0, 200)}`;
}

/** "" when the answer is one a hostile request may earn (or success), else why not. */
export function unearned(a: Answer<unknown>): string {
  if (a.ok) return "";
  if ("hang" in a) return "hang";
  if ("transport" in a) return `transport: ${a.transport}`;
  return EARNED.has(a.code) ? "" : `${Code[a.code]}: ${a.message}`;
}

export function describe(a: Answer<unknown>): string {
  if (a.ok) return "ok";
  if ("hang" in a) return "hang";
  if ("transport" in a) return `transport: ${a.transport}`;
  return `${Code[a.code]}: ${a.message}`;
}

export interface ProcFigures {
  rssKiB: number;
  fds: number;
}

export function procFigures(pid: number): ProcFigures | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    let fds = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) fds++;
    return { rssKiB, fds };
  } catch {
    return null;
  }
}

/** The busybox layer (built once per process) with a few hostile entry points. */
let layerCache: Promise<{ tar: Uint8Array; digest: string }> | null = null;
export function busyboxLayer(): Promise<{ tar: Uint8Array; digest: string }> {
  return layerCache ??= (async () => {
    const src = await Deno.makeTempDir({ prefix: "acond-stress-rootfs-" });
    try {
      await buildRootfs(src, {
        "lib/acon/entrypoint.d/Flood": [0o755, "#!/bin/sh\nyes floodfloodfloodflood\n"],
        "lib/acon/entrypoint.d/StopAll": [
          0o755,
          "#!/bin/sh\n(while :; do kill -STOP -1; usleep 2000; done) >/dev/null 2>&1 &\necho stopping\n",
        ],
        "lib/acon/entrypoint.d/Bomb": [0o755, "#!/bin/sh\nb() { b | b & }; b\n"],
        "lib/acon/entrypoint.d/Mark": [0o755, '#!/bin/sh\necho "$1" > /marker; cat /marker\n'],
        "lib/acon/entrypoint.d/Look": [0o755, "#!/bin/sh\ncat /marker 2>/dev/null; ls /\n"],
      });
      const tar = await tarOf(src);
      return { tar, digest: `sha384/${await sha384hex(tar)}` };
    } finally {
      await Deno.remove(src, { recursive: true });
    }
  })();
}

export interface WorldOptions {
  /** Daemon directory to reuse (faults on a tmpfs); a new temporary one if absent. */
  dir?: string;
  args?: string[];
}

/** Every world whose daemon may be running (for the suite's SIGINT/SIGTERM clean-up). */
export const LIVE = new Set<World>();

/** Kills every live daemon (kill -9, by its pid) and removes what they left: on SIGINT/SIGTERM. */
export async function abandonAll(): Promise<void> {
  for (const w of LIVE) {
    try {
      Deno.kill(w.pid, "SIGKILL");
    } catch { /* gone */ }
  }
  for (const w of LIVE) await cleanupDir(w.dir, w.keepDir);
  LIVE.clear();
}

export class World {
  d!: DevDaemon;
  c!: AconClient;
  json!: AconClient;
  readonly dir: string;
  readonly root: string;
  readonly socket: string;
  /** Two signers: Ed25519 (sha512 IDs) and ECDSA P-384 (sha384 IDs). */
  signers: FastSigner[] = [];
  layer = "";
  layerTar: Uint8Array = new Uint8Array();
  /** An image of the busybox layer, entry point `sleep 1000`, restartable. */
  plain = "";
  runner = 0;
  /** Times the daemon was found dead (and started again). */
  crashes = 0;
  #seq = 0;
  readonly #args: string[];
  #http: Deno.HttpClient | null = null;

  private constructor(dir: string, args: string[]) {
    this.dir = dir;
    this.root = `${dir}/root`;
    this.socket = `${dir}/acond.sock`;
    this.#args = args;
  }

  /** The directory was given (a tmpfs mount point): cleaned, not removed. */
  keepDir = false;

  static async create(o: WorldOptions = {}): Promise<World> {
    const dir = o.dir ?? await Deno.makeTempDir({ prefix: "acond-stress-" });
    const w = new World(dir, o.args ?? []);
    w.keepDir = o.dir !== undefined;
    LIVE.add(w);
    w.signers = [
      await fastSigner(await makeSigner("ed25519")),
      await fastSigner(await makeSigner("ec-p384", "sha384")),
    ];
    const l = await busyboxLayer();
    w.layer = l.digest;
    w.layerTar = l.tar;
    await w.boot();
    return w;
  }

  get pid(): number {
    return this.d.proc.pid;
  }

  /** Starts the daemon on the world's root (again, after a crash or a kill). */
  async boot(): Promise<void> {
    this.#http?.close();
    this.d = await startDaemon({ dir: this.dir, args: this.#args });
    this.#http = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socket } });
    this.c = bounded(this.d.client("connect-binary"));
    this.json = bounded(this.d.client("connect-json"));
    this.plain = "";
    this.runner = 0;
  }

  /** Whether the daemon process is still there (not exited). */
  async alive(): Promise<boolean> {
    const r = await Promise.race([this.d.proc.status.then(() => false), sleep(0).then(() => true)]);
    return r;
  }

  /** kill -9, then wait for it to be gone. */
  async kill9(): Promise<void> {
    try {
      this.d.proc.kill("SIGKILL");
    } catch { /* gone */ }
    await this.stop();
  }

  async stop(): Promise<void> {
    await this.d?.stop();
    this.#http?.close();
    this.#http = null;
  }

  /**
   * A raw HTTP request to the API socket (hostile bodies and headers connect-es would not send):
   * the status and the body's text, or why there was none in time.
   */
  raw(
    path: string,
    init: RequestInit,
    ms = HANG_MS,
  ): Promise<{ status: number; text: string } | { hang: true } | { transport: string }> {
    return this.rawWithHeaders(path, init, ms);
  }

  /** `raw` with the answer's headers too. */
  async rawWithHeaders(
    path: string,
    init: RequestInit,
    ms = HANG_MS,
  ): Promise<
    { status: number; text: string; headers: Headers } | { hang: true } | { transport: string }
  > {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ms);
    try {
      const r = await fetch(`http://localhost${path}`, {
        ...init,
        signal: ac.signal,
        client: this.#http!,
      });
      return { status: r.status, text: await r.text(), headers: r.headers };
    } catch (e) {
      if (ac.signal.aborted) return { hang: true };
      return { transport: String((e as Error).message ?? e) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A unique, valid manifest of the busybox layer (a fresh alias keeps every one distinct). */
  busyboxManifest(over: Record<string, unknown> = {}): Record<string, unknown> {
    const m = baseManifest({
      layers: [this.layer],
      entrypoint: ["/bin/sleep", "1000"],
      env: ["PATH=/bin"],
      signals: [9, -9, 15, -15, 10],
      maxInstances: 0,
      ...over,
    });
    m.aliases = { self: { ".": [`stress${this.#seq++}-${Date.now()}:1`] } };
    return m;
  }

  /** Signs and loads a manifest; uploads the busybox layer when the daemon lacks it. */
  async addImage(over: Record<string, unknown> = {}, signer = this.signers[1]): Promise<string> {
    const text = canonicalJson(this.busyboxManifest(over));
    const r = await this.c.addManifest({
      manifest: text,
      signature: await signer.sign(text),
      certificate: signer.signer.certificate,
    });
    if (r.missingLayers.includes(this.layer)) {
      await this.c.addBlob({ alg: 2, data: this.layerTar });
    }
    return r.imageId;
  }

  /**
   * The plain image, loaded on first use after each boot. It sleeps a day: its container is the
   * runner, which a full load run (64 × 10,000 RPCs, over an hour) Execs into from start to end;
   * with the 1000 s of the other images it ended a third of the way in and every later Exec got
   * "Container terminated".
   */
  async plainImage(): Promise<string> {
    if (!this.plain) {
      this.plain = await this.addImage({ logFDs: [1, 2], entrypoint: ["/bin/sleep", "86400"] });
    }
    return this.plain;
  }

  /** A running container of the plain image to Exec into (started again when it died). */
  async ensureRunner(): Promise<number> {
    if (this.runner) {
      const i = await this.c.inspect({ containerId: this.runner });
      if (i.info[0]?.running) return this.runner;
    }
    this.runner = (await this.c.start({ imageId: await this.plainImage() })).containerId;
    return this.runner;
  }
}

/**
 * Processes of containers of this state root, alive or left over by a killed daemon: those in
 * another PID namespace than ours whose root mount (in their mount namespace) is an overlay
 * naming a directory under `root`. (A container's /proc/<pid>/root reads "/" from outside.)
 */
export function processesUnder(root: string): { pid: number; pidns: string }[] {
  const own = Deno.readLinkSync("/proc/self/ns/pid");
  const out: { pid: number; pidns: string }[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const pidns = Deno.readLinkSync(`/proc/${e.name}/ns/pid`);
      if (pidns === own) continue;
      const mi = Deno.readTextFileSync(`/proc/${e.name}/mountinfo`).split("\n");
      if (mi.some((l) => l.split(" ")[4] === "/" && l.includes(`${root}/`))) {
        out.push({ pid: Number(e.name), pidns });
      }
    } catch { /* gone, or a kernel thread */ }
  }
  return out;
}

/** The PID namespace of a process ("" if it is gone). */
export function pidnsOf(pid: number): string {
  try {
    return Deno.readLinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return "";
  }
}

/** Mount points under `dir` in this mount namespace (deepest first, for unmounting). */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(`${dir}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Removes what a world (or a daemon killed under it) left: its container processes (by pid,
 * each found by its root under this world's directory), mounts under the directory, the
 * directory itself unless `keepDir`.
 */
export async function cleanupDir(dir: string, keepDir = false): Promise<void> {
  for (const { pid } of processesUnder(dir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  await sleep(50);
  for (const mp of mountsUnder(dir)) {
    if (keepDir && mp === dir) continue;
    await new Deno.Command("umount", { args: ["-l", mp], stderr: "null" }).output();
  }
  if (!keepDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
}
