/**
 * aconctl's side of the attested TLS listener (docs/aconctl.md, "TCP: attested TLS"). Before any
 * request goes to HOST:PORT, the server's certificate is fetched and its evidence verified
 * (attest/ratls/verify.ts, with the same settings as `aconctl verify`: --allow-sim, --policy,
 * --collateral/--pccs for real quotes). Failing that, nothing is sent (fail closed).
 *
 * How the verified certificate is the one that carries the requests: Deno's fetch cannot show a
 * peer certificate, and its pinning (caCerts) adds to the public roots and checks the host name.
 * So aconctl's requests go to a forwarder in this process, on a Unix socket in a fresh 0700
 * directory; the forwarder opens each TLS connection itself (node:tls, which checks the server's
 * handshake signature with the certificate's key) and passes bytes only when the certificate the
 * server presents is, byte for byte, the verified one. The first connection's certificate is the
 * one verified; a server that presents another on a later connection is cut.
 *
 * --insecure: no verification at all (TLS if the server speaks it, else plain HTTP), said loudly.
 */
import * as tls from "node:tls";
import { UsageError } from "./command.ts";
import { parseAttestedCert, verifyAttestedCert } from "../attest/ratls/verify.ts";
import { dcapStep, verifyInputOf, type VerifySettings } from "./evidence.ts";

/** Why aconctl refused the server (printed as is; exit status EXIT.untrusted). */
export class TlsRefused extends Error {}

export interface TlsOptions {
  /** No check at all (a loud warning is printed). */
  insecure: boolean;
  settings: VerifySettings;
  /** Where warnings go (stderr). */
  warn?: (line: string) => void;
}

type Mode = { kind: "tls"; pinned: Uint8Array | null } | { kind: "plain" };

/** HOST:PORT of a `tcp:` address ([v6]:port allowed). */
export function splitHostPort(addr: string): { host: string; port: number } {
  const hp = addr.replace(/^tcp:/, "");
  const i = hp.lastIndexOf(":");
  const host = hp.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(hp.slice(i + 1)) };
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A TLS connection and the certificate the server presented (DER). */
function connectTls(
  host: string,
  port: number,
): Promise<{ sock: tls.TLSSocket; cert: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host,
      port,
      servername: "localhost", // the certificate's name; SNI cannot carry an IP address
      rejectUnauthorized: false, // the evidence is the trust, checked by the caller
      ALPNProtocols: ["http/1.1"],
      minVersion: "TLSv1.2",
    });
    sock.once("secureConnect", () => {
      const raw = sock.getPeerCertificate(true)?.raw;
      if (!raw || raw.length === 0) {
        sock.destroy();
        reject(new TlsRefused("the server presented no certificate"));
        return;
      }
      resolve({ sock, cert: new Uint8Array(raw) });
    });
    sock.once("error", (e) => reject(e));
  });
}

/** Whether a failed handshake means the other side speaks plain HTTP (not TLS). */
function notTls(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return /InvalidContentType|corrupt message|wrong version|unknown protocol|HTTP/i.test(m);
}

function unreachable(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENOTFOUND" ||
    /refused|os error 111/i.test(String((e as Error)?.message));
}

/** The server's certificate, verified; what to pin. Throws TlsRefused with the reasons. */
export async function verifyServer(
  host: string,
  port: number,
  o: TlsOptions,
): Promise<Mode> {
  let got;
  try {
    got = await connectTls(host, port);
  } catch (e) {
    if (e instanceof TlsRefused) throw e;
    if (unreachable(e)) throw e; // the caller says "connection refused"
    if (notTls(e)) {
      if (o.insecure) return { kind: "plain" };
      throw new TlsRefused(
        `acond at ${host}:${port} does not speak TLS (plain HTTP: it runs with acond.tls=off or ` +
          "--tls off); refusing to send anything unverified. Talk to it anyway with --insecure",
      );
    }
    throw new TlsRefused(`TLS with ${host}:${port} failed: ${(e as Error).message}`);
  }
  got.sock.destroy(); // this connection only fetched the certificate: nothing was sent on it
  if (o.insecure) return { kind: "tls", pinned: null };
  let a;
  try {
    a = parseAttestedCert(got.cert);
  } catch (e) {
    throw new TlsRefused(`the certificate of ${host}:${port}: ${(e as Error).message}`);
  }
  let dcap;
  try {
    ({ verdict: dcap } = await dcapStep(a.evidence.quote, o.settings));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new TlsRefused(`DCAP verification of the certificate's quote: ${(e as Error).message}`);
  }
  const { data: _d, rtmr3Log: _l, attestationData: _a, ...input } = verifyInputOf(o.settings, {
    data: a.evidence.quote,
    rtmr3Log: [],
    attestationData: "",
    dcap,
  });
  const v = verifyAttestedCert(a, input);
  for (const w of v.warnings) o.warn?.(`aconctl: warning: ${host}:${port}: ${w}`);
  if (!v.ok) {
    throw new TlsRefused(
      `refusing acond at ${host}:${port}: its TLS certificate's evidence does not verify:\n` +
        v.errors.map((e) => `  - ${e}`).join("\n") +
        (v.origin === "sim" && !o.settings.allowSim
          ? "\n  (a dev-mode or sim-TEE acond: accept simulated evidence with --allow-sim)"
          : ""),
    );
  }
  return { kind: "tls", pinned: got.cert };
}

/**
 * The forwarder aconctl's requests go through for a `tcp:` address: `socketPath` is the Unix
 * socket to give fetch. The server is verified on the first request; `failure` then says why
 * nothing was sent, if it was refused.
 */
export class TcpSession {
  readonly socketPath: string;
  readonly #dir: string;
  readonly #listener: Deno.Listener;
  readonly #host: string;
  readonly #port: number;
  readonly #o: TlsOptions;
  #mode: Promise<Mode> | null = null;
  /** The refusal (or connection error) that stopped every request. */
  failure: unknown = null;

  constructor(addr: string, o: TlsOptions) {
    ({ host: this.#host, port: this.#port } = splitHostPort(addr));
    this.#o = o;
    if (o.insecure) {
      o.warn?.(
        `aconctl: WARNING: --insecure: the connection to ${this.#host}:${this.#port} is NOT ` +
          "verified; whoever runs the network or the host can read and change every request " +
          "and answer. For tests only.",
      );
    }
    this.#dir = Deno.makeTempDirSync({ prefix: "aconctl-tls-" });
    Deno.chmodSync(this.#dir, 0o700);
    this.socketPath = `${this.#dir}/s`;
    this.#listener = Deno.listen({ transport: "unix", path: this.socketPath });
    void this.#accept();
  }

  #verified(): Promise<Mode> {
    this.#mode ??= verifyServer(this.#host, this.#port, this.#o).catch((e) => {
      this.failure = e;
      throw e;
    });
    return this.#mode;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let local: Deno.Conn;
      try {
        local = await this.#listener.accept();
      } catch {
        return; // closed
      }
      void this.#serve(local);
    }
  }

  async #serve(local: Deno.Conn): Promise<void> {
    let mode: Mode;
    try {
      mode = await this.#verified();
    } catch {
      local.close();
      return;
    }
    try {
      if (mode.kind === "plain") {
        const remote = await Deno.connect({ hostname: this.#host, port: this.#port });
        await Promise.all([
          local.readable.pipeTo(remote.writable).catch(() => {}),
          remote.readable.pipeTo(local.writable).catch(() => {}),
        ]);
        return;
      }
      const { sock, cert } = await connectTls(this.#host, this.#port);
      if (mode.pinned && !eq(cert, mode.pinned)) {
        sock.destroy();
        this.failure = new TlsRefused(
          `${this.#host}:${this.#port} presented another certificate than the one verified: ` +
            "refusing it (acond restarted? run the command again)",
        );
        local.close();
        return;
      }
      await pipeNode(local, sock);
    } catch (e) {
      this.failure ??= e;
      try {
        local.close();
      } catch { /* closed */ }
    }
  }

  close(): void {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    try {
      Deno.removeSync(this.#dir, { recursive: true });
    } catch { /* gone */ }
  }
}

/** Copies bytes both ways between a Deno connection and a node:tls socket, with back-pressure. */
function pipeNode(local: Deno.Conn, sock: tls.TLSSocket): Promise<void> {
  const w = local.writable.getWriter();
  const down = new Promise<void>((resolve) => {
    sock.on("data", (chunk: Uint8Array) => {
      sock.pause();
      w.write(new Uint8Array(chunk)).then(() => sock.resume(), () => sock.destroy());
    });
    const end = () => {
      w.close().catch(() => {});
      resolve();
    };
    sock.once("end", end);
    sock.once("close", end);
    sock.on("error", end); // every error: one without a listener would be thrown
  });
  const up = (async () => {
    try {
      for await (const chunk of local.readable) {
        if (!sock.write(chunk)) await new Promise((r) => sock.once("drain", r));
      }
      sock.end();
    } catch {
      sock.destroy();
    }
  })();
  return Promise.all([down, up]).then(() => {});
}
