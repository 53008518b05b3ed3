/**
 * The boot's own clock: how long each phase took, and the ready line that reports them. Read
 * by people and by the boot benchmark; `load` is Deno's start-up and the loading of the boot
 * module graph (performance.now() counts from the process's start), before any of acond ran.
 */
import { log } from "../util/log.ts";

export class BootPhases {
  readonly #done: string[];
  #start: number;
  /** The current phase's steps so far (`name ms`), and when the last one ended. */
  #steps: string[] = [];
  #stepStart: number;

  constructor() {
    this.#done = [`load ${performance.now().toFixed(0)}`];
    this.#start = this.#stepStart = performance.now();
  }

  /**
   * A step of the current phase ends now (its own time is reported with the phase): where a
   * long phase's time goes, without a phase per step.
   */
  step(name: string): void {
    const now = performance.now();
    this.#steps.push(`${name} ${(now - this.#stepStart).toFixed(0)}`);
    this.#stepStart = now;
  }

  /** The phase `name` ends now; the next one starts. */
  mark(name: string): void {
    const now = performance.now();
    const steps = this.#steps.length ? ` (${this.#steps.join(", ")})` : "";
    this.#done.push(`${name} ${(now - this.#start).toFixed(0)}${steps}`);
    this.#start = this.#stepStart = now;
    this.#steps = [];
  }

  /** `name ms` per phase so far, in boot order. */
  get done(): readonly string[] {
    return this.#done;
  }
}

/** What the ready line says besides the timings. */
export interface ReadyFacts {
  tcpPort: number;
  tee: string;
  /** acond.timeout in seconds (0: off). */
  timeout: number;
}

/** `acond ready as PID 1 in N ms (…): …; ms per phase: …` (tests and the benchmark read it). */
export function logReady(phases: BootPhases, facts: ReadyFacts): void {
  let uptime = "?";
  let rss = "?";
  try {
    uptime = Deno.readTextFileSync("/proc/uptime").split(" ")[0];
    const kb = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
    if (kb) rss = (Number(kb) / 1024).toFixed(1);
  } catch { /* informational */ }
  log.info(
    `acond ready as PID 1 in ${performance.now().toFixed(0)} ms (uptime ${uptime} s, ` +
      `rss ${rss} MiB): tcp ${facts.tcpPort}, tee ${facts.tee}, ` +
      `idle timeout ${facts.timeout || "off"}; ms per phase: ${phases.done.join(", ")}`,
  );
}
