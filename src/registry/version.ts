/**
 * Version comparison and matching for package specs. Versions are compared component by
 * component (numbers numerically, other text lexically: `2.10.0` > `2.9.0`, `2.0.0rc1` <
 * `2.0.0`), as Guix's `version-compare` does. A spec's version part is either a prefix by dot
 * components (`4.1` matches `4.1.2`, not `4.16`) or a semver range (`^2`, `>=1.11 <2`), checked
 * with `semver` after coercing versions such as `5.1.0.dfsg`.
 */
import { createRequire } from 'node:module';

type Semver = typeof import('semver');
let semverModule: Semver | undefined;
/** `semver` is loaded on first use: its forty modules cost more start-up time than most commands need. */
function semver(): Semver {
  return (semverModule ??= createRequire(import.meta.url)('semver') as Semver);
}

function components(v: string): Array<number | string> {
  return (v.match(/\d+|[A-Za-z]+/g) ?? []).map((c) => (/^\d+$/.test(c) ? Number(c) : c));
}

/** Negative, zero or positive as `a` is older than, the same as, or newer than `b`. */
export function compareVersions(a: string, b: string): number {
  const x = components(a);
  const y = components(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === q) continue;
    // A missing component: 2.0 < 2.0.1, but a pre-release tag (2.0.0rc1) sorts before 2.0.0.
    if (p === undefined) return typeof q === 'string' ? 1 : -1;
    if (q === undefined) return typeof p === 'string' ? -1 : 1;
    if (typeof p === 'number' && typeof q === 'number') return p - q;
    if (typeof p === 'number') return 1;
    if (typeof q === 'number') return -1;
    return p < q ? -1 : 1;
  }
  return 0;
}

/** True when `wanted` is a prefix of `version` by whole dot components. */
export function versionPrefixMatches(wanted: string, version: string): boolean {
  if (wanted === version) return true;
  return version.startsWith(wanted) && /^[.\-+_]/.test(version.slice(wanted.length));
}

/** Whether the text is a semver range rather than a plain version prefix. */
export function isRange(text: string): boolean {
  return /[\^~<>=*|xX ]/.test(text.replace(/^v/, ''));
}

/** Does `version` satisfy the spec's version part (prefix or semver range)? */
export function versionMatches(wanted: string, version: string): boolean {
  if (!isRange(wanted)) return versionPrefixMatches(wanted, version);
  const coerced = semver().coerce(version, { loose: true });
  if (!coerced) return false;
  try {
    return semver().satisfies(coerced, wanted, { loose: true, includePrerelease: true });
  } catch {
    return false;
  }
}

/** Is the text a usable range (so a typo such as `^^2` is reported, not silently unmatched)? */
export function validRange(text: string): boolean {
  return !isRange(text) || semver().validRange(text, { loose: true }) !== null;
}
