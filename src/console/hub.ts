/**
 * The terminals of interactive mode, as their front ends see them: the API (Attach,
 * WriteTerminal, ResizeTerminal, ListTerminals) and the VM console's multiplexer. A terminal is a
 * pty master owned by acond: a container's own (session 0, its entry point on a pty) or an
 * interactive Exec's (session > 0). Nothing a front end does can block acond: output is fanned
 * out to each attachment through a bounded queue (a slow reader loses the oldest bytes and is
 * told how many), input goes through a bounded queue to a non-blocking master.
 *
 * This file is the contract between the hub (src/console/terminals.ts) and its front ends.
 */

/** Names a terminal: its container, and 0 (the container's own) or an interactive Exec's id. */
export interface TerminalRef {
  containerId: number;
  session: number;
}

export interface ExitStatus {
  /** Exit code, or the signal number when `signal`. */
  wstatus: number;
  signal: boolean;
}

export interface TerminalSummary {
  ref: TerminalRef;
  imageId: string;
  command: string;
  /** Host pid of the terminal's process. */
  pid: number;
  exited: boolean;
  /** Attachments open now (API clients and the console). */
  attached: number;
  rows: number;
  cols: number;
}

/** One message of an attachment. */
export interface TerminalChunk {
  /** Output, oldest first (the kept scrollback comes first on a new attachment). */
  data: Uint8Array;
  /** Bytes this attachment lost since its previous chunk (it read too slowly). */
  dropped: number;
  /** Set on the last chunk: the terminal's process has exited. */
  exit?: ExitStatus;
}

/** A reader of one terminal's output; ends after the chunk with `exit`, or on `close()`. */
export interface Attachment extends AsyncIterable<TerminalChunk> {
  close(): void;
}

export type TerminalChange =
  | { kind: "added"; ref: TerminalRef }
  | { kind: "exited"; ref: TerminalRef; exit: ExitStatus }
  | { kind: "removed"; ref: TerminalRef };

export interface TerminalHub {
  list(): TerminalSummary[];
  /** Throws AcondError not_found for an unknown terminal. */
  attach(ref: TerminalRef, opts?: { scrollback?: boolean }): Attachment;
  /** Queues input; throws AcondError resource_exhausted when the terminal's input queue is full. */
  write(ref: TerminalRef, data: Uint8Array): void;
  resize(ref: TerminalRef, rows: number, cols: number): void;
  /** Calls `listener` on every change; returns the function that stops it. */
  onChange(listener: (change: TerminalChange) => void): () => void;
}
