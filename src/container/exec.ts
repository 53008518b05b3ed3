/**
 * Exec: a public entry point (`/lib/acon/entrypoint.d/<Name>`) run inside a running container's
 * namespaces. With a timeout, its stdin is fed and its output captured (batch); timeout 0 gives
 * it a pty instead (exec_pty.ts).
 */
import { AcondError, invalid, MSG, precondition, withContext } from "../errors.ts";
import { drainFd } from "../proc/fdio.ts";
import { EPOLL } from "../sys/mod.ts";
import { type ExecRequest, processSpec, spawnFailure } from "./exec_spec.ts";
import { execInteractive } from "./exec_pty.ts";
import type { Registry } from "./registry.ts";
import { TailBuffer } from "./ring.ts";
import { ENTRYPOINT_DIR, isPublicEntrypoint } from "./rules.ts";
import type { Container } from "./types.ts";
import { MAX_ARGS, MAX_ENV } from "./start.ts";

export type { ExecRequest } from "./exec_spec.ts";

export const DEFAULT_CAPTURE = 0x20000;
/** Largest Exec capture accepted (per stream). */
export const MAX_CAPTURE = 16 * 1024 * 1024;

export interface ExecOutput {
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** An interactive Exec's terminal session (Attach, WriteTerminal); 0 for a batch Exec. */
  session: number;
}

export async function exec(reg: Registry, req: ExecRequest): Promise<ExecOutput> {
  const cap = req.captureSize || DEFAULT_CAPTURE;
  if (cap > MAX_CAPTURE) throw invalid(`Capture size exceeds ${MAX_CAPTURE}`);
  if (req.stdin.length > cap) throw invalid(MSG.stdinTooBig);
  if (!isPublicEntrypoint(req.command)) throw invalid(MSG.privateEntrypoint);
  const c = reg.get(req.containerId);
  if (c.state !== "running") throw precondition(MSG.terminated);
  if (req.timeoutSec <= 0 && !reg.deps.interactive) throw precondition(MSG.ptyNeedsInteractive);
  for (const e of req.envs) if (e.includes("\0")) throw invalid("Invalid environment entry");
  for (const a of req.arguments) if (a.includes("\0")) throw invalid("Invalid argument");
  if (req.envs.length > MAX_ENV || req.arguments.length >= MAX_ARGS) {
    throw invalid("Too many arguments or environment entries");
  }
  const path = `${ENTRYPOINT_DIR}/${req.command}`;
  const what = `exec container ${c.id}`;
  if (req.timeoutSec <= 0) {
    const session = await withContext(what, () => execInteractive(reg, c, path, req));
    return { stdout: new Uint8Array(), stderr: new Uint8Array(), session };
  }
  return await withContext(what, () => execBatch(reg, c, path, req, cap));
}

/** Batch Exec: stdin fed and both outputs captured through pipes (batchIo). */
async function execBatch(
  reg: Registry,
  c: Container,
  path: string,
  req: ExecRequest,
  cap: number,
): Promise<ExecOutput> {
  const { sys } = reg.deps;
  const made: number[] = [];
  const pipe = () => {
    const p = sys.pipe();
    made.push(...p);
    return p;
  };
  let ours: [number, number, number];
  let theirs: [number, number, number];
  try {
    const [inR, inW] = pipe();
    const [outR, outW] = pipe();
    const [errR, errW] = pipe();
    ours = [inW, outR, errR];
    theirs = [inR, outW, errW];
    for (const fd of ours) sys.setNonblock(fd);
  } catch (e) {
    for (const fd of made) sys.close(fd);
    throw e;
  }
  // One deadline for the whole call: the spawn (which a container can stall by stopping the
  // child before it execs) and then the I/O.
  const deadline = Date.now() + req.timeoutSec * 1000;
  try {
    const spec = processSpec(c, path, req.arguments, req.envs, theirs);
    await reg.deps.reaper.spawn(() =>
      sys.spawnInContainer(c.pid, { ...spec, timeoutMs: req.timeoutSec * 1000 })
    );
  } catch (e) {
    for (const fd of ours) sys.close(fd);
    throw spawnFailure(e, req.command);
  } finally {
    for (const fd of theirs) sys.close(fd);
  }
  return await batchIo(reg, ours, req.stdin, cap, deadline);
}

/**
 * Feeds stdin then closes it (a reader sees EOF), captures both outputs (keeping the tail)
 * until both reach EOF. The deadline bounds the whole call; after it, the process keeps running
 * and its output is drained and discarded until EOF.
 */
function batchIo(
  reg: Registry,
  [inW, outR, errR]: [number, number, number],
  stdin: Uint8Array,
  cap: number,
  deadline: number,
): Promise<ExecOutput> {
  const { sys, fds } = reg.deps;
  return new Promise((resolve, reject) => {
    const out = new TailBuffer(cap);
    const err = new TailBuffer(cap);
    let open = 2;
    let settled = false;
    let inOpen = true;
    const closeIn = () => {
      if (!inOpen) return;
      inOpen = false;
      fds.unwatch(inW);
      sys.close(inW);
    };
    const timer = setTimeout(() => {
      settled = true;
      closeIn();
      reject(new AcondError("deadline_exceeded", MSG.execTimeout));
    }, Math.min(0x7fff_ffff, Math.max(0, deadline - Date.now())));
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      closeIn();
      resolve({ stdout: out.bytes(), stderr: err.bytes(), session: 0 });
    };
    const capture = (fd: number, sink: TailBuffer) =>
      drainFd(sys, fds, fd, 65536, (chunk) => {
        if (!settled) sink.push(chunk);
      }, () => {
        if (--open === 0) finish();
      });
    capture(outR, out);
    capture(errR, err);
    if (stdin.length === 0) closeIn();
    else {
      const data = new Uint8Array(stdin);
      let off = 0;
      fds.watch(inW, EPOLL.OUT, () => {
        try {
          const n = sys.writeSome(inW, data.subarray(off));
          if (n === null) return;
          off += n;
        } catch {
          off = data.length; // EPIPE: the process closed its stdin
        }
        if (off >= data.length) closeIn();
      });
    }
  });
}
