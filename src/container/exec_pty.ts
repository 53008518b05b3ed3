/**
 * Exec with timeout 0: the process gets a pty as stdio and controlling terminal (a new session)
 * and is listed in `sessions` (for the console); the call returns once it has been exec'd.
 * Output read from the master is kept in a small ring until the console attaches; the entry is
 * removed when the master reports hang-up.
 */
import { drainFd } from "../proc/fdio.ts";
import { type ExecRequest, processSpec, spawnFailure } from "./exec_spec.ts";
import type { PtySession, Registry } from "./registry.ts";
import { TailBuffer } from "./ring.ts";
import type { Container } from "./types.ts";

export async function execInteractive(
  reg: Registry,
  c: Container,
  path: string,
  req: ExecRequest,
): Promise<void> {
  const { sys } = reg.deps;
  const pty = sys.openPty();
  let pid: number;
  try {
    sys.setNonblock(pty.master);
    const stdio: [number, number, number] = [pty.slave, pty.slave, pty.slave];
    const spec = { ...processSpec(c, path, req.arguments, req.envs, stdio), ctty: true };
    ({ pid } = await reg.deps.reaper.spawn(() => sys.spawnInContainer(c.pid, spec)));
  } catch (e) {
    sys.close(pty.master);
    throw spawnFailure(e, req.command);
  } finally {
    // Only the process holds the slave now: its exit makes the master read EIO.
    sys.close(pty.slave);
  }
  const session: PtySession = {
    containerId: c.id,
    pid,
    master: pty.master,
    slave: pty.name,
    command: req.command,
    output: new TailBuffer(4096),
  };
  reg.sessions.add(session);
  drainFd(sys, reg.deps.fds, pty.master, 4096, (chunk) => session.output.push(chunk), () => {
    reg.sessions.delete(session);
  });
}
