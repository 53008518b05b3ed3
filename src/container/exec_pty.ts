/**
 * Exec with timeout 0: the process gets a pty as stdio and controlling terminal (a new session),
 * made and then served by the terminal hub (deps.terminals: console/terminals.ts, which lists it,
 * keeps its scrollback and lets clients attach); the call returns its session id once the
 * process has been exec'd.
 */
import { type ExecRequest, processSpec, spawnFailure } from "./exec_spec.ts";
import { terminalExit } from "./exit.ts";
import type { Registry } from "./registry.ts";
import type { Container } from "./types.ts";

export async function execInteractive(
  reg: Registry,
  c: Container,
  path: string,
  req: ExecRequest,
): Promise<number> {
  const { sys, terminals } = reg.deps;
  const pty = terminals.open({
    containerId: c.id,
    own: false,
    imageId: c.imageId,
    command: req.command,
  });
  let spawned;
  try {
    const stdio: [number, number, number] = [pty.slave, pty.slave, pty.slave];
    const spec = { ...processSpec(c, path, req.arguments, req.envs, stdio), ctty: true };
    spawned = await reg.deps.reaper.spawn(() => sys.spawnInContainer(c.pid, spec));
  } catch (e) {
    pty.abandon();
    throw spawnFailure(e, req.command);
  }
  pty.started(spawned.pid, spawned.exit.then(terminalExit));
  return pty.session;
}
