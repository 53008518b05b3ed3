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
 * module file. Protocol: {algs} first, then chunks (each acknowledged with its length), then
 * "end" (answered with the hex digests).
 */
const WORKER_SOURCE = `
import { createHash } from "node:crypto";
let hashes = [];
self.onmessage = (e) => {
  const m = e.data;
  if (m instanceof Uint8Array) {
    for (const [, h] of hashes) h.update(m);
    self.postMessage(m.length);
  } else if (m === "end") {
    self.postMessage({ digests: hashes.map(([a, h]) => [a, h.digest("hex")]) });
  } else {
    hashes = m.algs.map((a) => [a, createHash(a)]);
  }
};
`;

let workerUrl: string | undefined;

export class WorkerHasher implements ChunkSink {
  #worker: Worker | null = null;
  #backlog = 0;
  #failure: Error | null = null;
  #done = false;
  #waiters: (() => void)[] = [];
  #result: ((m: Map<HashAlg, string>) => void) | null = null;
  #reject: ((e: Error) => void) | null = null;

  /** Shared chunks sent, oldest first, until the worker has hashed them. */
  readonly #shared: (Uint8Array | null)[] = [];

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
    } else {
      this.#shared.push(null);
      const copy = chunk.slice();
      w.postMessage(copy, [copy.buffer]);
    }
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
