/**
 * Matching packages against `name[@version][+variant…]` specs in transformation options: by
 * name, by version prefix on dot components (`4.1` matches `4.1.2`, not `4.16`) or a semver
 * range, and by the variant values the spec gives (`scotch+int64` matches the 64-bit Scotch
 * only). A hidden package (the bootstrap's Debian `bash`) is matched only when its name means
 * it, as when the name is looked up: `--with-configure-flag=bash=…` is for the bash built from
 * source, not the toolchain's.
 */
import type { Package } from '../dsl/package.js';
import type { PackageSpecString } from '../registry/spec.js';
import { versionMatches } from '../registry/version.js';

/** A spec on the left of an option, and whether hidden packages of its name are meant. */
export interface TargetSpec extends PackageSpecString {
  readonly hidden?: boolean;
}

/** Does `p` match `spec`: name, version when given, each variant given, hidden only when meant? */
export function matchesSpec(p: Package, spec: TargetSpec): boolean {
  if (p.name !== spec.name) return false;
  if (spec.version !== undefined && !versionMatches(spec.version, p.version)) return false;
  if (spec.hidden !== true && p.properties['hidden'] === true) return false;
  for (const k in spec.variants) {
    const want = spec.variants[k]!;
    const have = p.variants[k];
    if (typeof want === 'boolean' ? have !== want : String(have) !== want) return false;
  }
  return true;
}
