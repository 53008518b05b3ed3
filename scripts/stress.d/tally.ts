/** Counts per check and the summary table the suite prints. */

export interface Row {
  check: string;
  inputs: number;
  crashes: number;
  hangs: number;
  /** Descriptor or RSS growth beyond 10 % after warm-up (load), or descriptors kept (streams). */
  leaks: number;
  /** Errors the request did not earn (internal, unknown, a dropped connection, a refused valid input). */
  unearned: number;
  /** Answers the oracle says are wrong (a forged manifest accepted, a wrong output, ...). */
  wrong: number;
  /** Failed liveness or consistency checks after an input. */
  consistency: number;
  /** The first failures of each kind (MAX_EXAMPLES each), to replay and read. */
  examples: string[];
  /** Why the check could not run on this host (reported as not run: neither passed nor failed). */
  notRun?: string;
}

export type Failure = "crashes" | "hangs" | "leaks" | "unearned" | "wrong" | "consistency";

export const MAX_EXAMPLES = 6;

export class Tally {
  readonly rows = new Map<string, Row>();
  readonly started = Date.now();

  row(check: string): Row {
    let r = this.rows.get(check);
    if (!r) {
      r = {
        check,
        inputs: 0,
        crashes: 0,
        hangs: 0,
        leaks: 0,
        unearned: 0,
        wrong: 0,
        consistency: 0,
        examples: [],
      };
      this.rows.set(check, r);
    }
    return r;
  }

  fail(check: string, kind: Failure, example: string): void {
    const r = this.row(check);
    r[kind]++;
    // Per kind: thousands of one kind (say unearned errors) must not hide the first hang.
    if (r.examples.filter((e) => e.startsWith(`${kind}:`)).length < MAX_EXAMPLES) {
      r.examples.push(`${kind}: ${example}`);
    }
    if (Deno.env.get("STRESS_VERBOSE")) console.error(`  [${check}] ${kind}: ${example}`);
  }

  /** Records that `check` cannot run here, and why (and which test covers it instead). */
  notRun(check: string, why: string): void {
    this.row(check).notRun = why;
    console.error(`  [${check}] not run: ${why}`);
  }

  get notRunCount(): number {
    return [...this.rows.values()].filter((r) => r.notRun !== undefined).length;
  }

  failures(r: Row): number {
    return r.crashes + r.hangs + r.leaks + r.unearned + r.wrong + r.consistency;
  }

  get failed(): boolean {
    return [...this.rows.values()].some((r) => this.failures(r) > 0);
  }

  /** The table, then the examples of every failing check. */
  render(seed: number, params: string): string {
    const cols = [
      "check",
      "inputs",
      "crashes",
      "hangs",
      "leaks",
      "unearned",
      "wrong",
      "consist.",
      "result",
    ];
    const rows = [...this.rows.values()].map((r) => [
      r.check,
      String(r.inputs),
      String(r.crashes),
      String(r.hangs),
      String(r.leaks),
      String(r.unearned),
      String(r.wrong),
      String(r.consistency),
      this.failures(r) ? "FAIL" : r.notRun !== undefined ? "NOT RUN" : "ok",
    ]);
    const total = (k: keyof Row) =>
      String([...this.rows.values()].reduce((n, r) => n + (r[k] as number), 0));
    rows.push([
      "TOTAL",
      total("inputs"),
      total("crashes"),
      total("hangs"),
      total("leaks"),
      total("unearned"),
      total("wrong"),
      total("consistency"),
      this.failed ? "FAIL" : this.notRunCount ? `ok, ${this.notRunCount} not run` : "ok",
    ]);
    const w = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
      cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(" | ");
    const out = [
      "",
      `stress summary (seed ${seed}; ${params}; ${
        ((Date.now() - this.started) / 1000).toFixed(0)
      } s)`,
      line(cols),
      w.map((n) => "-".repeat(n)).join("-+-"),
      ...rows.slice(0, -1).map(line),
      w.map((n) => "-".repeat(n)).join("-+-"),
      line(rows[rows.length - 1]),
    ];
    for (const r of this.rows.values()) {
      if (r.notRun !== undefined) out.push("", `${r.check}: NOT RUN: ${r.notRun}`);
    }
    for (const r of this.rows.values()) {
      if (!r.examples.length) continue;
      out.push(
        "",
        `${r.check}: first failures (replay: STRESS_SEED=${seed} scripts/stress ${r.check})`,
      );
      for (const e of r.examples) out.push(`  ${e.length > 400 ? e.slice(0, 400) + "…" : e}`);
    }
    return out.join("\n");
  }
}
