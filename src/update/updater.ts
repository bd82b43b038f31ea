/**
 * Updaters: where `tsdsl refresh`, `tsdsl import` and the `--with-latest`/`--with-version`
 * transformations learn about versions they do not have. An updater answers three questions
 * about a package name — its latest release, a given release, and which names it knows (for
 * "did you mean") — with a `Release`: a version and the tarballs with their sha256, plus what
 * an importer needs (build dependencies, home page). Updaters form a table looked up by name,
 * as Guix's `%updaters`; the Debian source index (debian.ts) is the first entry.
 */
import { TsdslError, didYouMean } from '../errors.js';
import { versionLike } from '../dsl/package.js';

/** A tarball of a release: URLs to try (upstream first where it is the same file) and its sha256. */
export interface ReleaseFile {
  readonly urls: readonly string[];
  readonly sha256: string;
  readonly size: number;
  readonly fileName: string;
}

/** One release of a package as an updater sees it. */
/**
 * The version a package built from `release` gets: the upstream version as a store path can hold
 * it (Debian's `3.0.0~rc1` is `3.0.0rc1`). Releases are compared by their own version, in which
 * `~` sorts before the release it precedes.
 */
export function packageVersion(release: Release): string {
  return versionLike(release.version) ?? release.version;
}

export interface Release {
  /** The updater's own name for the package (Debian's source package name). */
  readonly name: string;
  /** The upstream version, as package definitions write it (`2.9.0`). */
  readonly version: string;
  /** The updater's full version (`2.9.0-1` for Debian), recorded in `properties.debianVersion`. */
  readonly fullVersion: string;
  /** Where the index lists it (`unstable`), for messages. */
  readonly where: string;
  /** The main tarball. */
  readonly source: ReleaseFile;
  /** True when the tarball is a repack (`+dfsg`), not upstream's file: only the updater's URL serves it. */
  readonly repacked: boolean;
  readonly homePage: string | undefined;
  /** Build dependencies as names of the updater's packages, first alternative of each. */
  readonly buildDepends: readonly string[];
}

/** An updater: a source of release information for packages. */
export interface Updater {
  readonly name: string;
  readonly description: string;
  /** The newest release of `name`, or undefined when the updater does not know the package. */
  latest(name: string): Promise<Release | undefined>;
  /** Every release of `name` the updater knows, newest first (empty when unknown). */
  releases(name: string): Promise<readonly Release[]>;
  /** Every package name it knows, for suggestions. */
  names(): Promise<Iterable<string>>;
  /** The updater's package that builds binary package `binary` (Debian's `Binary:` field), if any. */
  sourceOfBinary(binary: string): Promise<string | undefined>;
}

/** The release `version` of `name`, or a TsdslError that lists what the updater has instead. */
export async function findRelease(updater: Updater, name: string, version: string): Promise<Release> {
  const all = await updater.releases(name);
  if (all.length === 0) throw await unknownPackage(updater, name);
  const hit = all.find((r) => r.version === version || r.fullVersion === version);
  if (hit) return hit;
  throw new TsdslError(
    `the ${updater.name} updater has no ${name} ${version}; it knows ${all.map((r) => `${r.version} (${r.where}${r.fullVersion !== r.version ? `, ${r.fullVersion}` : ''})`).join(', ')}. ` +
      'Pick one of those, or list a suite that has it in TSDSL_DEBIAN_SUITES (e.g. `unstable bookworm-backports`)',
  );
}

/** The latest release of `name`, or a TsdslError with close names. */
export async function latestRelease(updater: Updater, name: string): Promise<Release> {
  const r = await updater.latest(name);
  if (r) return r;
  throw await unknownPackage(updater, name);
}

/** "the debian updater does not know `libxcc`; did you mean `libxc`?" */
export async function unknownPackage(updater: Updater, name: string): Promise<TsdslError> {
  return new TsdslError(
    `the ${updater.name} updater knows no package \`${name}\`${didYouMean(name, await updater.names())} ` +
      `(names are those of the ${updater.description})`,
  );
}
