/**
 * Streaming digests on a worker thread. Hashing a layer costs about as much CPU as extracting it;
 * on its own thread it runs in parallel with the extraction (main thread) instead of after it. The
 * worker is started on the first chunk and ends with digest() or abort(). A chunk in shared memory
 * (a SharedArrayBuffer: what a streamed body is gathered into, ./body.ts) is hashed where it is, so
 * it must not change after update(); any other chunk is copied to the worker (the extraction still
 * needs the original). `backlog` (bytes sent but not hashed yet) lets the caller bound the memory
 * held by the worker's queue.
 */
import type { HashAlg } from "../../digest.ts";
import type { ChunkSink } from "../tar/reader.ts";

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

export class WorkerHasher implements ChunkSink {
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
