/**
 * The liveness and consistency oracle run after every hostile input, load round and fault. Each
 * check returns the list of what is wrong (empty: consistent):
 *   - alive: the daemon process runs and answers Health;
 *   - event log: GetEventLog's lines replay (src/attest/replay.ts) to the RTMR3 it reports, start
 *     with INIT, only grow while the daemon runs, and equal <root>/rtmr/rtmr3.log;
 *   - images: every image an AddManifest line names is loadable (GetManifest answers the manifest
 *     and certificate whose digests make its id), and every image directory on disk is in the log
 *     (validate, measure, then commit: no image stored but unmeasured);
 *   - containers: no container directory without a table entry (Inspect), no mount under the root
 *     but the rootfs of a running container, no process rooted under the root but a running
 *     container's, the staging directory empty between requests;
 *   - outside: no file carrying the run's canary name outside the root, and the daemon directory
 *     and the victim directory hold exactly what they held.
 */
import { addManifestLine, INIT_LINE, replay } from "../../src/attest/replay.ts";
import { toHex } from "../../src/digest_boot.ts";
import { hexDigest } from "../../tests/helpers/fastsign.ts";
import { call, describe, enc, mountsUnder, pidnsOf, processesUnder, type World } from "./world.ts";

const ADD_PREFIX = addManifestLine("");

/** A name no legitimate file carries: hostile inputs aim it at paths outside the state root. */
export function canary(seed: number): string {
  return `acond-stress-canary-${seed}`;
}

/** Absolute places hostile inputs aim at (tar entries, links, command names, env values). */
export function canaryTargets(seed: number, victim: string): string[] {
  const c = canary(seed);
  return [`/tmp/${c}`, `/${c}`, `/etc/${c}`, `/dev/shm/${c}`, `/var/tmp/${c}`, `${victim}/${c}`];
}

function listing(dir: string): string {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort().join("\n");
  } catch (e) {
    return `(unreadable: ${(e as Error).message})`;
  }
}

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function subdirs(p: string): string[] {
  try {
    return [...Deno.readDirSync(p)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
}

export class Oracle {
  readonly #w: World;
  readonly #seed: number;
  readonly victim: string;
  #victimListing = "";
  #dirListing = "";
  /** The log lines seen at the last check (append-only while the daemon runs). */
  #lines: string[] = [];
  #pid = 0;
  /** Images already proven loadable. */
  #loadable = new Set<string>();

  constructor(w: World, seed: number, victim: string) {
    this.#w = w;
    this.#seed = seed;
    this.victim = victim;
  }

  /** Records what the outside looks like (after the world is up, before any input). */
  async baseline(): Promise<void> {
    await Deno.mkdir(this.victim, { recursive: true });
    await Deno.writeTextFile(`${this.victim}/host-file`, "host file\n");
    this.#victimListing = listing(this.victim);
    this.#dirListing = listing(this.#w.dir);
  }

  /** Every check; the failures, each one line. */
  async check(): Promise<string[]> {
    const alive = await this.alive();
    if (alive.length) return alive;
    return [
      ...await this.eventLog(),
      ...await this.containers(),
      ...this.outside(),
    ];
  }

  async alive(): Promise<string[]> {
    if (!await this.#w.alive()) return ["daemon exited"];
    const h = await call((signal) => this.#w.c.health({}, { signal }));
    return h.ok ? [] : [`Health: ${describe(h)}`];
  }

  async eventLog(): Promise<string[]> {
    const w = this.#w;
    const out: string[] = [];
    const r = await call((signal) => w.c.getEventLog({}, { signal }));
    if (!r.ok) return [`GetEventLog: ${describe(r)}`];
    const lines = r.value.lines;
    if (this.#pid !== w.pid) {
      this.#pid = w.pid; // a new daemon (a sim RTMR3 starts from zero): a new log
      this.#lines = [];
      this.#loadable.clear();
    }
    const grew = lines.length !== this.#lines.length;
    if (lines.length < this.#lines.length || this.#lines.some((l, i) => lines[i] !== l)) {
      out.push(`event log rewritten: had ${this.#lines.length} lines, now ${lines.length}`);
    }
    if (lines.length && lines[0] !== INIT_LINE) out.push(`event log starts "${lines[0]}"`);
    if (grew || out.length || this.#lines.length === 0) {
      const replayed = toHex(replay(lines));
      if (replayed !== toHex(r.value.rtmr3)) {
        out.push(
          `event log (${lines.length} lines) replays to ${replayed.slice(0, 16)}…, ` +
            `RTMR3 is ${toHex(r.value.rtmr3).slice(0, 16)}…`,
        );
      }
      let file = "";
      try {
        file = Deno.readTextFileSync(`${w.root}/rtmr/rtmr3.log`);
      } catch { /* none yet */ }
      const want = lines.length ? lines.join("\n") + "\n" : "";
      if (file !== want) out.push(`rtmr3.log differs from GetEventLog (${lines.length} lines)`);
    }
    this.#lines = [...lines];
    // Every measured image is loadable.
    const measured = new Set<string>();
    for (const l of lines) {
      if (!l.startsWith(ADD_PREFIX)) continue;
      const id = l.slice(ADD_PREFIX.length);
      measured.add(id);
      if (this.#loadable.has(id)) continue;
      const why = await this.#loadableWhy(id);
      if (why) out.push(`measured image ${id.slice(0, 40)}… is not loadable: ${why}`);
      else this.#loadable.add(id);
    }
    // Every stored image is measured.
    for (const alg of subdirs(`${w.root}/images`)) {
      for (const signer of subdirs(`${w.root}/images/${alg}`)) {
        for (const m of subdirs(`${w.root}/images/${alg}/${signer}`)) {
          const id = `${alg}/${signer}/${m}`;
          if (!measured.has(id)) out.push(`image ${id.slice(0, 40)}… stored but not measured`);
        }
      }
    }
    return out;
  }

  async #loadableWhy(id: string): Promise<string> {
    const [alg, signer, manifest] = id.split("/");
    const r = await call((signal) => this.#w.c.getManifest({ imageId: id }, { signal }));
    if (!r.ok) return `GetManifest: ${describe(r)}`;
    const a = alg as "sha256" | "sha384" | "sha512";
    if (await hexDigest(a, enc.encode(r.value.manifest)) !== manifest) return "manifest digest";
    if (await hexDigest(a, r.value.certificate) !== signer) return "certificate digest";
    return "";
  }

  async containers(): Promise<string[]> {
    const w = this.#w;
    const out: string[] = [];
    const r = await call((signal) => w.c.inspect({ containerId: 0 }, { signal }));
    if (!r.ok) return [`Inspect: ${describe(r)}`];
    const table = new Map(r.value.info.map((i) => [i.containerId, i]));
    for (const name of subdirs(`${w.root}/containers`)) {
      if (name === "top") continue;
      if (!/^\d+$/.test(name) || !table.has(Number(name))) {
        out.push(`container directory ${name} has no table entry`);
      }
    }
    const runningRoots = new Set(
      [...table.values()].filter((i) => i.running).map((i) =>
        `${w.root}/containers/${i.containerId}/rootfs`
      ),
    );
    for (const mp of mountsUnder(w.root)) {
      if (!runningRoots.has(mp)) out.push(`stray mount ${mp.slice(w.root.length)}`);
    }
    // A running container's processes share its entry point's PID namespace.
    const live = new Set([...table.values()].filter((i) => i.running).map((i) => pidnsOf(i.pid)));
    const stray = processesUnder(w.root).filter((p) => !live.has(p.pidns));
    if (stray.length) {
      out.push(
        `${stray.length} container processes of this root belong to no running ` +
          `container (pids ${stray.slice(0, 5).map((p) => p.pid).join(" ")})`,
      );
    }
    const staged = subdirs(`${w.root}/tmp`);
    if (staged.length) out.push(`staging left behind: tmp/${staged.slice(0, 3).join(" tmp/")}`);
    return out;
  }

  outside(): string[] {
    const out: string[] = [];
    for (const t of canaryTargets(this.#seed, this.victim)) {
      if (exists(t)) out.push(`file created outside the root: ${t}`);
    }
    if (listing(this.victim) !== this.#victimListing) out.push(`victim directory changed`);
    const now = listing(this.#w.dir);
    if (now !== this.#dirListing) {
      out.push(`daemon directory changed: ${now.replaceAll("\n", " ")}`);
      this.#dirListing = now;
    }
    return out;
  }

  /**
   * The sweep (end of a phase): files whose name carries the canary outside the root, in the
   * places a write would land (or, `full`, on every file of the host's root file system: slow).
   */
  async sweep(full: boolean): Promise<string[]> {
    const where = full ? ["/"] : ["/tmp", "/var/tmp", "/etc", "/dev/shm", "/run", "/root"];
    const depth = full ? [] : ["-maxdepth", "4"];
    const r = await new Deno.Command("find", {
      args: [
        ...where,
        "-xdev",
        ...depth,
        "(",
        "-path",
        this.#w.dir,
        "-o",
        "-path",
        this.victim,
        ")",
        "-prune",
        "-o",
        "-name",
        `*${canary(this.#seed)}*`,
        "-print",
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const top = [...Deno.readDirSync("/")].filter((e) => e.name.includes(canary(this.#seed)));
    return [
      ...new TextDecoder().decode(r.stdout).split("\n").filter((l) => l),
      ...top.map((e) => `/${e.name}`),
    ]
      .map((l) => `file created outside the root: ${l}`);
  }

  /** Forget the log seen so far (the daemon was restarted on purpose). */
  reset(): void {
    this.#pid = 0;
  }
}
