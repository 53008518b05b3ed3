/**
 * Streaming digests off the main thread. Hashing a layer costs about as much CPU as extracting it;
 * on its own thread it runs in parallel with the extraction (main thread) instead of after it.
 * NativeHasher hashes with libcrypto (ffi/digest.c, src/sys/digest.ts) on the runtime's blocking
 * threads, each chunk where it is: about 1.5x faster than node:crypto. WorkerHasher, where
 * libcrypto cannot be opened, runs node:crypto on a worker. newLayerHasher picks.
 *
 * WorkerHasher: the worker is started on the first chunk and ends with digest() or abort(). A chunk in shared memory
 * (a SharedArrayBuffer: what a streamed body is gathered into, ./body.ts) is hashed where it is, so
 * it must not change after update(); any other chunk is copied to the worker (the extraction still
 * needs the original). `backlog` (bytes sent but not hashed yet) lets the caller bound the memory
 * held by the worker's queue.
 */
import type { HashAlg } from "../../digest.ts";
import { NativeDigests, nativeDigestsAvailable } from "../../sys/digest.ts";
import { log } from "../../util/log.ts";
import type { ChunkSink } from "../tar/reader.ts";

/** What an upload needs of its hasher. */
export interface LayerHasher extends ChunkSink {
  /** Bytes given to update() and not hashed yet. */
  readonly backlog: number;
  /** Resolves once at most `limit` bytes wait (or the hasher failed or ended). */
  waitForBacklog(limit: number): Promise<void>;
  /** The digests of everything passed to update(); the hasher is finished afterwards. */
  digest(): Promise<Map<HashAlg, string>>;
  /** Stops hashing (a discarded upload); idempotent. */
  abort(): void;
}

/**
 * The fastest hasher available: libcrypto's, else node:crypto's on a worker. `done`, when given,
 * is called with every chunk in shared memory once it is hashed (no longer read), so that its
 * buffer may be reused.
 */
export function newLayerHasher(
  algs: readonly HashAlg[],
  done?: (chunk: Uint8Array) => void,
): LayerHasher {
  if (nativeDigestsAvailable()) return new NativeHasher(algs, done);
  if (!warned) {
    warned = true;
    log.warn(`${NO_LIBCRYPTO}: layers are hashed by node:crypto on a worker (about 1.5x slower)`);
  }
  return new WorkerHasher(algs, done);
}

/** How the log says the shim could not open libcrypto (tests/e2e look for it). */
export const NO_LIBCRYPTO = "libcrypto.so.3 cannot be opened";
let warned = false;

/**
 * libcrypto on another thread, one chunk at a time and in order (src/sys/digest.ts). Every chunk
 * is read where it is, so none may change once given (the upload's batches until `done` gives
 * them back; WriteBlob chunks and unary blobs are never changed). Failures (an unknown algorithm
 * included) surface at the next call.
 */
export class NativeHasher implements LayerHasher {
  #set: NativeDigests | null = null;
  readonly #queue: Uint8Array[] = [];
  #backlog = 0;
  #running = false;
  #failure: Error | null = null;
  #done = false;
  #waiters: (() => void)[] = [];
  /** Resolves once the queue is empty and no update runs. */
  #idle: (() => void) | null = null;

  constructor(
    private readonly algs: readonly HashAlg[],
    private readonly doneWith?: (chunk: Uint8Array) => void,
  ) {}

  get backlog(): number {
    return this.#backlog;
  }

  update(chunk: Uint8Array): void {
    if (this.#failure) throw this.#failure;
    if (this.#done) throw new Error("hasher already finished");
    if (chunk.length === 0) return;
    try {
      this.#set ??= new NativeDigests(this.algs);
    } catch (e) {
      this.#fail(e instanceof Error ? e : new Error(String(e)));
      throw this.#failure;
    }
    this.#queue.push(chunk);
    this.#backlog += chunk.length;
    if (!this.#running) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#running = true;
    try {
      for (let c = this.#queue.shift(); c !== undefined; c = this.#queue.shift()) {
        if (this.#done || this.#failure) {
          this.#given(c);
          continue;
        }
        try {
          await this.#set!.update(c);
        } catch (e) {
          this.#fail(new Error(`hashing failed: ${e instanceof Error ? e.message : String(e)}`));
        }
        this.#backlog -= c.length;
        this.#given(c);
        this.#wake();
      }
    } finally {
      this.#running = false;
      const idle = this.#idle;
      this.#idle = null;
      idle?.();
      if (this.#done) this.#set?.free();
    }
  }

  #given(c: Uint8Array): void {
    if (c.buffer instanceof SharedArrayBuffer) this.doneWith?.(c);
  }

  async waitForBacklog(limit: number): Promise<void> {
    while (this.#backlog > limit && !this.#failure && !this.#done) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  async digest(): Promise<Map<HashAlg, string>> {
    if (this.#failure) throw this.#failure;
    if (this.#done || this.#idle) throw new Error("hasher already finished");
    if (this.#running) await new Promise<void>((r) => this.#idle = r);
    if (this.#failure) throw this.#failure;
    this.#done = true;
    this.#wake();
    const set = this.#set ?? new NativeDigests(this.algs);
    this.#set = null;
    return set.final();
  }

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    // A running update still holds the set: #pump frees it once that one returns.
    if (!this.#running) this.#set?.free();
    this.#wake();
  }

  #fail(e: Error): void {
    this.#failure ??= e;
    this.#wake();
  }

  #wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }
}

/**
 * The worker's code, as text: the daemon ships as one bundle, so the worker cannot be a separate
 * module file. Protocol: {algs} first, then chunks, then "end" (answered with the hex digests). A
 * chunk is either a view of shared memory (hashed in place, acknowledged with its length) or
 * {buf, len}, a copy transferred to the worker and sent back once hashed, so that the buffers are
 * reused: a worker that dropped them would pile up garbage its collector sees late, tens of MiB
 * per upload.
 */
const WORKER_SOURCE = `
import { createHash } from "node:crypto";
let hashes = [];
self.onmessage = (e) => {
  const m = e.data;
  if (m instanceof Uint8Array) {
    for (const [, h] of hashes) h.update(m);
    self.postMessage(m.length);
  } else if (m.buf instanceof ArrayBuffer) {
    const chunk = new Uint8Array(m.buf, 0, m.len);
    for (const [, h] of hashes) h.update(chunk);
    self.postMessage(m, [m.buf]);
  } else if (m === "end") {
    self.postMessage({ digests: hashes.map(([a, h]) => [a, h.digest("hex")]) });
  } else {
    hashes = m.algs.map((a) => [a, createHash(a)]);
  }
};
`;

let workerUrl: string | undefined;

/** Buffers sent to the worker are at least this large (a stream's batch), and so many are kept. */
const MIN_BUFFER = 1 << 20;
const POOL = 8;

export class WorkerHasher implements LayerHasher {
  #worker: Worker | null = null;
  #backlog = 0;
  /** Buffers the worker gave back, for the next chunks. */
  #free: ArrayBuffer[] = [];
  #failure: Error | null = null;
  #done = false;
  #waiters: (() => void)[] = [];
  #result: ((m: Map<HashAlg, string>) => void) | null = null;
  #reject: ((e: Error) => void) | null = null;

  /** Shared chunks sent, oldest first, until the worker has hashed them. */
  readonly #shared: Uint8Array[] = [];

  /**
   * `done`, when given, is called with every shared chunk once it is hashed (the worker no longer
   * reads it), so that its buffer may be reused.
   */
  constructor(
    private readonly algs: readonly HashAlg[],
    private readonly done?: (chunk: Uint8Array) => void,
  ) {}

  /** Bytes sent to the worker that it has not hashed yet. */
  get backlog(): number {
    return this.#backlog;
  }

  #start(): Worker {
    workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    const w = new Worker(workerUrl, { type: "module" });
    w.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "number") {
        this.#backlog -= e.data;
        const c = this.#shared.shift();
        if (c) this.done?.(c);
        this.#wake();
      } else if (e.data.buf instanceof ArrayBuffer) {
        this.#backlog -= e.data.len;
        if (this.#free.length < POOL) this.#free.push(e.data.buf);
        this.#wake();
      } else {
        const digests = new Map<HashAlg, string>(e.data.digests);
        this.#stop();
        this.#result?.(digests);
      }
    };
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // a worker failure fails this upload, never the daemon
      this.#fail(new Error(`hash worker failed: ${e.message}`));
    };
    w.postMessage({ algs: this.algs });
    this.#worker = w;
    return w;
  }

  update(chunk: Uint8Array): void {
    if (this.#failure) throw this.#failure;
    if (this.#done) throw new Error("hasher already finished");
    if (chunk.length === 0) return;
    const w = this.#worker ?? this.#start();
    this.#backlog += chunk.length;
    if (chunk.buffer instanceof SharedArrayBuffer) {
      this.#shared.push(chunk);
      w.postMessage(chunk); // shared, not copied
      return;
    }
    const i = this.#free.findIndex((b) => b.byteLength >= chunk.length);
    const buf = i >= 0
      ? this.#free.splice(i, 1)[0]
      : new ArrayBuffer(Math.max(chunk.length, MIN_BUFFER));
    new Uint8Array(buf).set(chunk);
    w.postMessage({ buf, len: chunk.length }, [buf]);
  }

  /** Resolves once at most `limit` bytes wait in the worker (or the hasher failed or ended). */
  async waitForBacklog(limit: number): Promise<void> {
    while (this.#backlog > limit && !this.#failure && !this.#done) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** The digests of everything passed to update(); the worker is gone afterwards. */
  digest(): Promise<Map<HashAlg, string>> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#done) return Promise.reject(new Error("hasher already finished"));
    const w = this.#worker ?? this.#start();
    const p = new Promise<Map<HashAlg, string>>((resolve, reject) => {
      this.#result = resolve;
      this.#reject = reject;
    });
    w.postMessage("end");
    return p;
  }

  /** Stops the worker (discarded upload); idempotent. */
  abort(): void {
    this.#stop();
  }

  #fail(e: Error): void {
    this.#failure ??= e;
    this.#stop();
    this.#reject?.(e);
  }

  #stop(): void {
    this.#done = true;
    this.#free = [];
    this.#worker?.terminate();
    this.#worker = null;
    this.#wake();
  }

  #wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }
}
