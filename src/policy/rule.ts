/**
 * Syntax of launch-policy rules (`policy.accepts` entries) and of self aliases (`name:svn`).
 * Pure parsing: every malformed input becomes AcondError("invalid_argument") with ACON's message
 * text followed by a detail that tells the user what to fix.
 *
 * Rule grammar (docs/policy.md):
 *   alg "/" signer "/" target
 *   alg    = "sha256" | "sha384" | "sha512"
 *   signer = "*" | lowercase hex digest of length(alg)
 *   target = "*" | lowercase hex digest of length(alg) | name ":" svn
 * with `*` as signer allowed only together with a manifest digest (ACON's `alg/*\/<m>`): a signer
 * wildcard with `*` or an alias would let any key holder forge a match.
 */
import { AcondError, MSG } from "../errors.ts";
import { HEX_LENGTH, isDigestHex, isHashAlg } from "../digest_boot.ts";

const U64_MAX = (1n << 64n) - 1n;

export type RuleTarget =
  | { kind: "any" }
  | { kind: "digest"; digest: string }
  | { kind: "alias"; name: string; svn: bigint };

export interface ParsedRule {
  alg: string;
  /** A signer digest, or "*" (only with a digest target). */
  signer: string;
  target: RuleTarget;
}

export interface SelfAlias {
  name: string;
  svn: bigint;
}

/** Quote user input for an error message, bounded so a hostile rule cannot bloat the reply. */
export function quote(s: string): string {
  const shown = s.length > 200 ? s.slice(0, 200) + "…" : s;
  return JSON.stringify(shown);
}

function policyError(rule: string, detail: string): AcondError {
  return new AcondError("invalid_argument", `${MSG.policyFormat}: rule ${quote(rule)}: ${detail}`);
}

/** Decimal u64, as ACON's `u64::from_str` on the svn (without its leading "+"). */
function parseSvn(s: string): bigint | undefined {
  if (!/^[0-9]{1,20}$/.test(s)) return undefined;
  const v = BigInt(s);
  return v <= U64_MAX ? v : undefined;
}

/** `name:svn` with a non-empty name and a u64 svn; undefined when malformed. */
function parseNameSvn(s: string): SelfAlias | undefined {
  const parts = s.split(":");
  if (parts.length !== 2 || parts[0] === "") return undefined;
  const svn = parseSvn(parts[1]);
  return svn === undefined ? undefined : { name: parts[0], svn };
}

/** Parses one rule; throws AcondError(invalid_argument, MSG.policyFormat + detail). */
export function parseRule(rule: string): ParsedRule {
  const parts = rule.split("/");
  if (parts.length !== 3) {
    throw policyError(rule, "expected 3 parts alg/signer/manifest separated by '/'");
  }
  const [alg, signer, target] = parts;
  if (!isHashAlg(alg)) {
    throw policyError(rule, `unknown hash algorithm ${quote(alg)} (use sha256, sha384 or sha512)`);
  }
  const hexLength = HEX_LENGTH[alg];
  if (signer !== "*" && !isDigestHex(alg, signer)) {
    throw policyError(rule, `signer must be '*' or ${hexLength} lowercase hex digits for ${alg}`);
  }
  if (target === "*") {
    if (signer === "*") {
      throw policyError(rule, "'*/*' would accept every image; name a signer or a manifest digest");
    }
    return { alg, signer, target: { kind: "any" } };
  }
  if (target.includes(":")) {
    if (signer === "*") {
      throw policyError(rule, "an alias needs a signer: any signer can claim any alias");
    }
    const alias = parseNameSvn(target);
    if (alias === undefined) {
      throw policyError(rule, "alias must be name:svn with svn a decimal integer below 2^64");
    }
    return { alg, signer, target: { kind: "alias", ...alias } };
  }
  if (!isDigestHex(alg, target)) {
    throw policyError(
      rule,
      `manifest must be '*', name:svn or ${hexLength} lowercase hex digits for ${alg}`,
    );
  }
  return { alg, signer, target: { kind: "digest", digest: target } };
}

/** Parses a self alias; throws AcondError(invalid_argument, MSG.aliasFormat + detail). */
export function parseSelfAlias(alias: string, imageId: string): SelfAlias {
  const parsed = parseNameSvn(alias);
  if (parsed === undefined) {
    throw new AcondError(
      "invalid_argument",
      `${MSG.aliasFormat}: image ${imageId} has self alias ${
        quote(alias)
      }; a policy rule names it, so it must be name:svn with svn a decimal integer below 2^64`,
    );
  }
  return parsed;
}
