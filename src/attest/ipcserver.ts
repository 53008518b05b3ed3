/**
 * The container-facing socket server (behaviour file §6.4). One request and one response per
 * connection; requests are handled one at a time. Every refusal is a framed error struct and
 * never touches state; a slow or hostile client is cut off by a read deadline and connection
 * limits (its own share, so it cannot starve other containers, and a bound on all), and nothing
 * a client sends can throw out of here (PID 1 must survive). Attestation data is bounded per
 * container and in all (attestation.ts MAX_ATTEST_*): one container's data cannot make another's
 * report fail.
 *
 * Caller identity: `identify` maps the connection to a container id (or null = unknown caller).
 * The transport decides what it knows: see docs/attestation.md ("Container identity").
 */
import type { ReportDeps } from "./report.ts";
import { makeReport } from "./report.ts";
import { checkAttestDataSize, checkStoredAttestData } from "./attestation.ts";
import {
  CMD_GET_REPORT,
  decodeHeader,
  decodeRequest,
  encodeError,
  encodeGetReportRsp,
  encodeSetDataRsp,
  type Header,
  HEADER_SIZE,
  IpcError,
  MAX_MESSAGE,
} from "./ipc.ts";
import { AcondError, errorChain, MSG, unwrapContext } from "../errors.ts";
import { Mutex } from "../util/mutex.ts";
import { log } from "../util/log.ts";
import { sharedDir } from "../options.ts";

export interface IpcConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  /** Half-close (shutdown SHUT_WR): the client sees EOF after the reply. */
  closeWrite?(): Promise<void>;
  close(): void;
}

export interface IpcOptions {
  /** Whole-request read deadline. */
  readTimeoutMs?: number;
  /** Connections served at once, all callers together; more are closed immediately. */
  maxConnections?: number;
  /** Connections served at once for one caller (a container, or the shared socket's callers). */
  maxPerCaller?: number;
}

/** Defaults: one container cannot starve another (each has its own share), all are bounded. */
export const MAX_CONNECTIONS = 256;
export const MAX_CONNECTIONS_PER_CALLER = 8;

/** Reads exactly p.length bytes; false on EOF first. */
async function readFull(c: IpcConn, p: Uint8Array): Promise<boolean> {
  let off = 0;
  while (off < p.length) {
    const n = await c.read(p.subarray(off));
    if (n === null || n === 0) return false;
    off += n;
  }
  return true;
}

async function drain(c: IpcConn): Promise<void> {
  const sink = new Uint8Array(64 * 1024);
  for (let total = 0; total <= MAX_MESSAGE;) {
    const n = await c.read(sink);
    if (n === null) return;
    total += n;
  }
}

async function writeAll(c: IpcConn, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) off += await c.write(p.subarray(off));
}

export class ContainerIpc {
  readonly #deps: ReportDeps;
  readonly #serial = new Mutex();
  readonly #timeout: number;
  readonly #max: number;
  readonly #maxPerCaller: number;
  #active = 0;
  /** Connections being served, by caller (container id; -1: the shared socket's callers). */
  readonly #byCaller = new Map<number, number>();

  constructor(deps: ReportDeps, o: IpcOptions = {}) {
    this.#deps = deps;
    this.#timeout = o.readTimeoutMs ?? 5000;
    this.#max = o.maxConnections ?? MAX_CONNECTIONS;
    this.#maxPerCaller = o.maxPerCaller ?? MAX_CONNECTIONS_PER_CALLER;
  }

  /** Answers one complete, already-framed request from caller `cid` (null: unknown caller). */
  handle(message: Uint8Array, cid: number | null): Promise<Uint8Array> {
    return this.#serial.run(async () => {
      let command = -1;
      try {
        command = decodeHeader(message).command;
        const req = decodeRequest(message);
        if (req.kind === "set_data") {
          await this.#deps.lock.run(() => {
            const c = cid === null ? undefined : this.#deps.state.containers.get(cid);
            if (!c) throw new IpcError(command, MSG.badContainerId);
            checkStoredAttestData(this.#deps.state.containers.values(), c.id, req.attestData);
            c.attestData = req.attestData;
          });
          return encodeSetDataRsp();
        }
        const known = cid !== null && this.#deps.state.containers.has(cid);
        if (known) checkAttestDataSize(req.attestData);
        const r = await makeReport(this.#deps, {
          nonceLo: req.nonceLo,
          nonceHi: req.nonceHi,
          requestType: req.requestType,
          override: known ? { containerId: cid!, data: req.attestData } : undefined,
        });
        return encodeGetReportRsp(r.mrlog[3], r.attestationData, r.data);
      } catch (e) {
        if (e instanceof IpcError) return encodeError(e.request, e.message);
        const inner = unwrapContext(e); // as the API does (api/errors.ts, docs/errors.md)
        if (inner instanceof AcondError) return encodeError(command, inner.message);
        log.error(`container socket: ${errorChain(e)}\n${(inner as Error).stack ?? inner}`);
        return encodeError(command, MSG.unexpected);
      }
    });
  }

  /** Reads one framed request, or gives the framed error to answer instead. */
  async #read(conn: IpcConn): Promise<{ request: Uint8Array } | { reply: Uint8Array }> {
    const head = new Uint8Array(HEADER_SIZE);
    if (!(await readFull(conn, head))) return { reply: encodeError(-1, MSG.badStructure) };
    let h: Header;
    try {
      h = decodeHeader(head);
    } catch (e) {
      const request = e instanceof IpcError ? e.request : CMD_GET_REPORT;
      return { reply: encodeError(request, MSG.badStructure) };
    }
    const msg = new Uint8Array(h.size);
    msg.set(head);
    if (!(await readFull(conn, msg.subarray(HEADER_SIZE)))) {
      return { reply: encodeError(h.command, MSG.badStructure) };
    }
    return { request: msg };
  }

  /** Serves one connection: read one framed request (bounded), answer, close. Never throws. */
  async serve(conn: IpcConn, cid: number | null): Promise<void> {
    const caller = cid ?? -1;
    const mine = this.#byCaller.get(caller) ?? 0;
    if (this.#active >= this.#max || mine >= this.#maxPerCaller) {
      log.debug(`container socket: caller ${cid ?? "unknown"} over its connection limit`);
      try {
        conn.close();
      } catch { /* gone */ }
      return;
    }
    this.#active++;
    this.#byCaller.set(caller, mine + 1);
    // The deadline bounds the client's reading and writing; not the wait for the serial queue or
    // a slow quote, which are ours.
    const cut = () => {
      try {
        conn.close();
      } catch { /* gone */ }
    };
    let timer = setTimeout(cut, this.#timeout);
    try {
      const read = await this.#read(conn);
      let reply: Uint8Array;
      if ("reply" in read) reply = read.reply;
      else {
        clearTimeout(timer);
        reply = await this.handle(read.request, cid);
        timer = setTimeout(cut, this.#timeout);
      }
      await writeAll(conn, reply);
      if ("reply" in read) {
        // Refused before the client's bytes were all read. Closing a Unix socket with unread
        // input resets the peer, which would lose the framed error: send EOF, then discard what
        // is left until the client closes (bounded by the deadline and MAX_MESSAGE).
        await conn.closeWrite?.();
        await drain(conn);
      }
    } catch (e) {
      log.debug(`container socket connection: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
      this.#active--;
      const left = (this.#byCaller.get(caller) ?? 1) - 1;
      if (left > 0) this.#byCaller.set(caller, left);
      else this.#byCaller.delete(caller);
      try {
        conn.close();
      } catch { /* gone */ }
    }
  }

  /**
   * Listens on a Unix socket (mode 0666, stale file removed). `identify` gives the caller's
   * container id for this listener (a per-container socket knows its container), or null.
   */
  async listen(path: string, identify: () => number | null): Promise<{ close(): void }> {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
    await Deno.remove(path).catch(() => {});
    const listener = Deno.listen({ transport: "unix", path });
    await Deno.chmod(path, 0o666);
    let closed = false;
    acceptLoop(listener, (conn) => this.serve(conn, identify()), () => closed, path);
    return {
      close() {
        closed = true;
        try {
          listener.close();
        } catch { /* closed */ }
      },
    };
  }
}

/**
 * Accepts connections until the listener is closed. An accept error (EMFILE when the daemon is out
 * of descriptors, …) is logged and retried after a pause: ending the loop would leave the socket
 * bound but dead until the next boot. Never rejects.
 */
export async function acceptLoop<C>(
  listener: { accept(): Promise<C> },
  onConn: (conn: C) => void,
  closed: () => boolean,
  name: string,
  retryMs = 200,
): Promise<void> {
  while (!closed()) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (
        closed() || e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted
      ) {
        return;
      }
      log.error(`container socket ${name}: accept: ${(e as Error).message}; retrying`);
      await new Promise((r) => setTimeout(r, retryMs));
      continue;
    }
    onConn(conn);
  }
}

/**
 * Per-container sockets: identity by construction. The container module calls open(cid) when it
 * starts a container and bind-mounts the returned socket over /shared/acon.sock inside that
 * container's mount namespace; whatever arrives on it comes from that container, whatever uid
 * the caller runs as. The shared socket (below) serves callers it cannot identify: reports work
 * for them, setting data does not.
 */
export class ContainerSockets {
  readonly ipc: ContainerIpc;
  readonly dir: string;
  readonly #open = new Map<number, { close(): void }>();

  constructor(deps: ReportDeps, dir: string, o: IpcOptions = {}) {
    this.ipc = new ContainerIpc(deps, o);
    this.dir = dir;
  }

  pathOf(cid: number): string {
    return `${this.dir}/${cid}.sock`;
  }

  /** Listens on the container's own socket (idempotent); returns its path. */
  async open(cid: number): Promise<string> {
    if (!Number.isSafeInteger(cid) || cid < 0) throw new Error(`bad container id ${cid}`);
    if (!this.#open.has(cid)) {
      this.#open.set(
        cid,
        await this.ipc.listen(this.pathOf(cid), () => cid),
      );
    }
    return this.pathOf(cid);
  }

  async close(cid: number): Promise<void> {
    this.#open.get(cid)?.close();
    this.#open.delete(cid);
    await Deno.remove(this.pathOf(cid)).catch(() => {});
  }

  closeAll(): void {
    for (const l of this.#open.values()) l.close();
    this.#open.clear();
  }
}

/** `acon.sock` in the containers' /shared (options.ts `sharedDir`). */
export function containerSocketPath(opts: { pid1: boolean; root: string }): string {
  return `${sharedDir(opts)}/acon.sock`;
}

/**
 * Binds the shared socket (anonymous callers) over which each container's own socket is mounted;
 * a failure is logged, not fatal (null: containers then get no socket and cannot attest).
 */
export async function startContainerSocket(
  sockets: ContainerSockets,
  path: string,
): Promise<{ close(): void } | null> {
  try {
    const shared = await sockets.ipc.listen(path, () => null);
    return {
      close() {
        shared.close();
        sockets.closeAll();
      },
    };
  } catch (e) {
    log.error(`container socket ${path}: ${(e as Error).message} (containers cannot attest)`);
    return null;
  }
}
