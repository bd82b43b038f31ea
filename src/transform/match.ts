/**
 * Matching packages against `name[@version]` specs in transformation options: by name, and by
 * version prefix on dot components (`4.1` matches `4.1.2`, not `4.16`) or a semver range.
 */
import type { Package } from '../dsl/package.js';
import type { PackageSpecString } from '../registry/spec.js';
import { versionMatches } from '../registry/version.js';

/** Does `p` match `spec` (name, and version when the spec has one)? Variants are ignored. */
export function matchesSpec(p: Package, spec: PackageSpecString): boolean {
  return p.name === spec.name && (spec.version === undefined || versionMatches(spec.version, p.version));
}
