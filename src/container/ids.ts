/**
 * Container ids and host uids (behaviour file §7.1, Image.md "Credentials"). One monotonic counter
 * starting at 2 (1 was ACON's HTTP child) hands out the container id, which is also the offset of
 * the container root's host uid, and one more value per manifest `uids` entry. The host uid is
 * `base + n`: base 0 as PID 1 (ACON-compatible: cid == host uid), a high base in dev mode so that
 * containers never run as a real user of the host. A value whose host uid is the overflow uid is
 * skipped; nothing is ever reused (the counter only grows). Pure.
 */
import { MAX_UIDS } from "../image/start_rules.ts";

export class IdAllocator {
  #next = 2;
  constructor(readonly base: number, readonly overflowUid: number) {}

  /** The next id n (host uid base + n). */
  next(): number {
    let n = this.#next++;
    if (this.base + n === this.overflowUid) n = this.#next++;
    if (this.base + n > 0xfffffffe) throw new Error("host uid space exhausted");
    return n;
  }

  hostUid(n: number): number {
    return this.base + n;
  }
}

export interface IdMapping {
  inside: number;
  outside: number;
}

/** uid_map/gid_map text: one "inside outside 1" line per mapping. */
export function idMapText(map: IdMapping[]): string {
  return map.map((m) => `${m.inside} ${m.outside} 1`).join("\n") + "\n";
}

/** Validates manifest uids: distinct, non-zero, 32-bit, not the overflow uid, at most MAX_UIDS. */
export function validUids(uids: number[], overflowUid: number): boolean {
  const seen = new Set<number>();
  for (const u of uids) {
    if (!Number.isInteger(u) || u <= 0 || u > 0xfffffffe || u === overflowUid || seen.has(u)) {
      return false;
    }
    seen.add(u);
  }
  return uids.length <= MAX_UIDS;
}
