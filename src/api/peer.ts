/**
 * Who is at the other end of a host-API connection (TCP, vsock), decided before any route runs:
 * no process in a container may complete a request there (containers share the VM's network,
 * so they reach every TCP listener, and AF_VSOCK needs no privilege). docs/api.md "Who may call".
 *
 * TCP: a connection from a process of this machine has its other end in the kernel's socket
 * tables too (/proc/net/tcp, /proc/net/tcp6 of acond's own network namespace, which containers
 * share): local address = the peer's, remote = ours. Its owner uid says whether a container made
 * it (containers run as host uids of their own: container/ids.ts). A connection from outside the
 * VM has no such entry. Everything in doubt is refused (fail closed): our own end not in the
 * tables, a local peer socket without an owner (closed, orphaned, TIME_WAIT: its uid reads 0),
 * a peer address that is one of ours without a peer socket. The owner test is pluggable
 * (`LocalPeerPolicy`): a cgroup-based one can take the socket's inode instead of its uid.
 *
 * vsock: a process of the VM reaches the VM's own listener only through the loopback transport,
 * whose peers have CID 1 (VMADDR_CID_LOCAL); the host is CID 2. PID 1 accepts CID 2 only.
 */
import { log } from "../util/log.ts";

/** An address as 4 (IPv4, also for v4-mapped IPv6) or 16 bytes, in hex, and a port. */
export interface Endpoint {
  addr: string;
  port: number;
}

/** One line of /proc/net/tcp{,6}. */
export interface SocketEntry {
  local: Endpoint;
  remote: Endpoint;
  /** TCP state (1 ESTABLISHED … 6 TIME_WAIT … 10 LISTEN). */
  state: number;
  uid: number;
  /** 0 for a socket no process holds (orphaned, TIME_WAIT). */
  inode: number;
}

export const TCP_TIME_WAIT = 6;
export const TCP_LISTEN = 10;

const hex2 = (b: number) => b.toString(16).padStart(2, "0");
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The bytes of an address as the kernel prints it: 32-bit words in host byte order. */
function kernelAddr(text: string): string {
  const bytes: number[] = [];
  for (let w = 0; w < text.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(text.slice(w + i, w + i + 2), 16));
    bytes.push(...(LITTLE_ENDIAN ? word.reverse() : word));
  }
  return canonical(bytes);
}

/** v4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address: the same socket, seen from either stack. */
function canonical(bytes: number[]): string {
  if (
    bytes.length === 16 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff
  ) bytes = bytes.slice(12);
  return bytes.map(hex2).join("");
}

function endpoint(field: string): Endpoint {
  const [a, p] = field.split(":");
  if (!a || !p || !/^[0-9A-Fa-f]+$/.test(a) || (a.length !== 8 && a.length !== 32)) {
    throw new Error(`bad socket address ${field}`);
  }
  return { addr: kernelAddr(a), port: parseInt(p, 16) };
}

/** Parses /proc/net/tcp or /proc/net/tcp6 (the header line and malformed lines are skipped). */
export function parseProcNetTcp(text: string): SocketEntry[] {
  const out: SocketEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^\d+:$/.test(f[0])) continue;
    try {
      out.push({
        local: endpoint(f[1]),
        remote: endpoint(f[2]),
        state: parseInt(f[3], 16),
        uid: Number(f[7]),
        inode: Number(f[9]),
      });
    } catch { /* not a socket line */ }
  }
  return out;
}

/** An address as Deno prints it ("127.0.0.1", "::1", "::ffff:127.0.0.1", "fe80::1%eth0"). */
export function addrOf(hostname: string): string {
  const h = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const v4 = (s: string) => {
    const p = s.split(".").map(Number);
    if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) {
      throw new Error(`bad address ${hostname}`);
    }
    return p;
  };
  if (!h.includes(":")) return canonical(v4(h));
  let tail: number[] = [];
  let s = h;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail = v4(s.slice(lastColon + 1));
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) throw new Error(`bad address ${hostname}`);
  const groups = (t: string) => (t === "" ? [] : t.split(":").map((g) => parseInt(g, 16)));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) throw new Error(`bad address ${hostname}`);
  const all = [...head, ...Array(fill).fill(0), ...rest];
  if (all.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) {
    throw new Error(`bad address ${hostname}`);
  }
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return canonical(bytes);
}

/** 127.0.0.0/8 and ::1. */
export function isLoopback(addr: string): boolean {
  return (addr.length === 8 && addr.startsWith("7f")) || addr === "0".repeat(31) + "1";
}

/** Decides about a local peer socket's owner: null allows, a reason refuses. */
export interface LocalPeerPolicy {
  refuse(owner: { uid: number; inode: number }): string | null;
}

/** The uid policy: container processes run as host uids of their own (container/ids.ts). */
export function uidPolicy(isContainerUid: (uid: number) => boolean): LocalPeerPolicy {
  return {
    refuse: ({ uid }) =>
      isContainerUid(uid) ? `the peer is a container process (host uid ${uid})` : null,
  };
}

export interface TcpPeerFacts {
  /** Both /proc/net/tcp tables. */
  sockets: SocketEntry[];
  /** The addresses of this machine's interfaces (Endpoint.addr form). */
  localAddrs: Set<string>;
}

/**
 * Pure: whether the connection from `peer` to our `listenPort` may be served. null: yes (a host
 * process that is not a container's, or a peer outside the VM); else why not.
 */
export function judgeTcpPeer(
  facts: TcpPeerFacts,
  peer: Endpoint,
  listenPort: number,
  policy: LocalPeerPolicy,
): string | null {
  const same = (a: Endpoint, b: Endpoint) => a.addr === b.addr && a.port === b.port;
  const ours = facts.sockets.filter((s) =>
    s.state !== TCP_LISTEN && s.local.port === listenPort && same(s.remote, peer)
  );
  if (ours.length === 0) return "the connection is not in the kernel's socket tables";
  let found = false;
  for (const own of ours) {
    for (const s of facts.sockets) {
      if (!same(s.local, peer) || !same(s.remote, own.local)) continue;
      found = true;
      if (s.inode === 0 || s.state === TCP_TIME_WAIT) {
        return "the local peer socket has no owner (closed before its request was served)";
      }
      const why = policy.refuse({ uid: s.uid, inode: s.inode });
      if (why !== null) return why;
    }
  }
  if (!found && (isLoopback(peer.addr) || facts.localAddrs.has(peer.addr))) {
    return "the peer has a local address but no socket of its own";
  }
  return null;
}

/** Reads the facts from the kernel (acond's network namespace, which containers share). */
export async function readTcpPeerFacts(): Promise<TcpPeerFacts> {
  // No IPv6: no tcp6, an empty table. Any other failure (EMFILE when descriptors run short) is
  // not an empty table: it is thrown, and the guard refuses saying why.
  const read = (p: string) =>
    Deno.readTextFile(p).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return "";
      throw new Error(`${p}: ${(e as Error).message}`);
    });
  const [v4, v6] = await Promise.all([read("/proc/net/tcp"), read("/proc/net/tcp6")]);
  const localAddrs = new Set<string>();
  try {
    for (const i of Deno.networkInterfaces()) {
      try {
        localAddrs.add(addrOf(i.address));
      } catch { /* not an IP address */ }
    }
  } catch (e) {
    log.warn(`peer check: network interfaces: ${(e as Error).message}`);
  }
  return { sockets: [...parseProcNetTcp(v4), ...parseProcNetTcp(v6)], localAddrs };
}

/** The check api/server.ts runs on every request of a TCP or vsock listener: null allows. */
export type PeerGuard = (remote: Deno.Addr, local: Deno.Addr) => Promise<string | null>;

/** TCP peers: by their socket's owner (`policy`); `facts` is the kernel (tests: a stand-in). */
export function tcpPeerGuard(
  policy: LocalPeerPolicy,
  facts: () => Promise<TcpPeerFacts> = readTcpPeerFacts,
): PeerGuard {
  return async (remote, local) => {
    if (remote.transport !== "tcp" || local.transport !== "tcp") {
      return `not a TCP connection (${remote.transport})`;
    }
    let peer: Endpoint;
    try {
      peer = { addr: addrOf(remote.hostname), port: remote.port };
    } catch {
      return `unparsable peer address ${remote.hostname}`;
    }
    try {
      return judgeTcpPeer(await facts(), peer, local.port, policy);
    } catch (e) {
      return `cannot read the socket tables: ${(e as Error).message}`;
    }
  };
}

export const VMADDR_CID_LOCAL = 1;
export const VMADDR_CID_HOST = 2;

/**
 * vsock peers: never CID 1 (a process of this machine, through the loopback transport); as PID 1
 * (`hostOnly`) the host's CID 2 only.
 */
export function vsockPeerGuard(hostOnly: boolean): PeerGuard {
  return (remote) => {
    if (remote.transport !== "vsock") {
      return Promise.resolve(`not a vsock connection (${remote.transport})`);
    }
    const cid = remote.cid;
    if (cid === VMADDR_CID_LOCAL) {
      return Promise.resolve("the peer is a process of this machine (vsock CID 1)");
    }
    if (hostOnly && cid !== VMADDR_CID_HOST) {
      return Promise.resolve(`the peer is not the host (vsock CID ${cid}, the host is 2)`);
    }
    return Promise.resolve(null);
  };
}

/** The host API's guards: by socket owner on TCP, by CID on vsock. */
export interface PeerGuards {
  tcp: PeerGuard;
  vsock: PeerGuard;
}

/**
 * The daemon's guards: as PID 1 every process but acond (uid 0) is a container's; in dev mode
 * containers run as host uids from `devUidBase` up (container/registry.ts DEV_UID_BASE).
 */
export function peerGuards(o: { pid1: boolean; devUidBase: number }): PeerGuards {
  return {
    tcp: tcpPeerGuard(uidPolicy(o.pid1 ? (u) => u !== 0 : (u) => u >= o.devUidBase)),
    vsock: vsockPeerGuard(o.pid1),
  };
}
