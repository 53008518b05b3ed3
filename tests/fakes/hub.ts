/**
 * A TerminalHub (src/console/hub.ts) for front-end tests: terminals are added by the test, their
 * output is pushed by the test, and what front ends write and resize is recorded.
 */
import type {
  Attachment,
  ExitStatus,
  TerminalChange,
  TerminalChunk,
  TerminalHub,
  TerminalRef,
  TerminalSummary,
} from "../../src/console/hub.ts";
import { AcondError } from "../../src/errors.ts";

const key = (r: TerminalRef) => `${r.containerId}/${r.session}`;

class FakeAttachment implements Attachment {
  queue: TerminalChunk[] = [];
  closed = false;
  #wake: (() => void) | null = null;
  constructor(readonly onClose: () => void) {}
  push(c: TerminalChunk) {
    this.queue.push(c);
    this.#wake?.();
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.#wake?.();
  }
  async *[Symbol.asyncIterator]() {
    while (!this.closed) {
      const c = this.queue.shift();
      if (!c) {
        await new Promise<void>((r) => (this.#wake = r));
        continue;
      }
      yield c;
      if (c.exit) return;
    }
  }
}

interface FakeTerminal {
  summary: TerminalSummary;
  scrollback: Uint8Array[];
  attachments: Set<FakeAttachment>;
  written: Uint8Array[];
  sizes: [number, number][];
}

export class FakeHub implements TerminalHub {
  terms = new Map<string, FakeTerminal>();
  listeners = new Set<(c: TerminalChange) => void>();
  /** Throw resource_exhausted from write() (a full input queue). */
  full = false;

  add(ref: TerminalRef, command = "/bin/sh"): FakeTerminal {
    const t: FakeTerminal = {
      summary: {
        ref,
        imageId: "f".repeat(64),
        command,
        pid: 1000 + ref.containerId,
        exited: false,
        attached: 0,
        rows: 24,
        cols: 80,
      },
      scrollback: [],
      attachments: new Set(),
      written: [],
      sizes: [],
    };
    this.terms.set(key(ref), t);
    this.#emit({ kind: "added", ref });
    return t;
  }

  /** Output of the terminal: kept as scrollback and sent to every attachment. */
  output(ref: TerminalRef, text: string | Uint8Array) {
    const t = this.#get(ref);
    const data = typeof text === "string" ? new TextEncoder().encode(text) : text;
    t.scrollback.push(data);
    for (const a of t.attachments) a.push({ data, dropped: 0 });
  }

  exit(ref: TerminalRef, exit: ExitStatus) {
    const t = this.#get(ref);
    t.summary.exited = true;
    for (const a of t.attachments) a.push({ data: new Uint8Array(), dropped: 0, exit });
    this.#emit({ kind: "exited", ref, exit });
  }

  remove(ref: TerminalRef) {
    this.terms.delete(key(ref));
    this.#emit({ kind: "removed", ref });
  }

  text(ref: TerminalRef): string {
    const d = new TextDecoder();
    return this.#get(ref).written.map((w) => d.decode(w)).join("");
  }

  list(): TerminalSummary[] {
    return [...this.terms.values()].map((t) => ({ ...t.summary, attached: t.attachments.size }));
  }

  attach(ref: TerminalRef, opts: { scrollback?: boolean } = {}): Attachment {
    const t = this.#get(ref);
    const a: FakeAttachment = new FakeAttachment(() => t.attachments.delete(a));
    if (opts.scrollback !== false && t.scrollback.length) {
      const n = t.scrollback.reduce((s, b) => s + b.length, 0);
      const all = new Uint8Array(n);
      let off = 0;
      for (const b of t.scrollback) (all.set(b, off), off += b.length);
      a.push({ data: all, dropped: 0 });
    }
    if (t.summary.exited) {
      a.push({ data: new Uint8Array(), dropped: 0, exit: { wstatus: 0, signal: false } });
    } else t.attachments.add(a);
    return a;
  }

  write(ref: TerminalRef, data: Uint8Array): void {
    const t = this.#get(ref);
    if (this.full) throw new AcondError("resource_exhausted", "input queue full");
    t.written.push(data.slice());
  }

  resize(ref: TerminalRef, rows: number, cols: number): void {
    const t = this.#get(ref);
    t.sizes.push([rows, cols]);
    t.summary.rows = rows;
    t.summary.cols = cols;
  }

  onChange(listener: (change: TerminalChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  #get(ref: TerminalRef): FakeTerminal {
    const t = this.terms.get(key(ref));
    if (!t) throw new AcondError("not_found", `no terminal ${key(ref)}`);
    return t;
  }

  #emit(c: TerminalChange) {
    for (const l of this.listeners) l(c);
  }
}
