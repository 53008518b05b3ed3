/** What an Exec request asks for and what its process gets (shared by batch and pty Exec). */
import { AcondError, MSG, precondition, wrapError } from "../errors.ts";
import { type ProcessSpec, SpawnError, SysError } from "../sys/mod.ts";
import { CONTAINER_UMASK } from "./start.ts";
import type { Container } from "./types.ts";

export interface ExecRequest {
  containerId: number;
  command: string;
  arguments: string[];
  envs: string[];
  stdin: Uint8Array;
  timeoutSec: number;
  captureSize: number;
}

/** What an Exec'd process gets: the entry point, the caller's argv/env, the container's rules. */
export function processSpec(
  c: Container,
  path: string,
  args: string[],
  envs: string[],
  stdio: [number, number, number],
): ProcessSpec {
  return {
    path,
    argv: [path, ...args],
    env: envs,
    stdio,
    umask: CONTAINER_UMASK,
    noNewPrivs: (c.image.manifest.uids ?? []).length === 0,
    setsid: true,
    cgroup: c.cgroup ?? undefined,
  };
}

/**
 * The client's view of a failed Exec spawn: no such entry point, or the container is gone;
 * anything else gets the context "spawn <command>".
 */
export function spawnFailure(e: unknown, command: string): unknown {
  // Stopped or stuck before exec past the deadline (the shim killed it): ACON's timeout answer.
  if (e instanceof SysError && e.syscall === "spawn" && e.errnoName === "ETIMEDOUT") {
    return new AcondError("deadline_exceeded", MSG.execTimeout, { cause: e });
  }
  if (e instanceof SpawnError && e.step === "execve" && e.errnoName === "ENOENT") {
    return new AcondError("not_found", `No entry point ${command}`, { cause: e });
  }
  // The init exited between the state check and joining it (its namespaces are gone).
  if (
    e instanceof SysError && e.errnoName === "ENOENT" &&
    (e.syscall === "open" || (e instanceof SpawnError && e.step === "setns"))
  ) {
    return precondition(MSG.terminated, { cause: e });
  }
  return wrapError(e, `spawn ${command}`);
}
