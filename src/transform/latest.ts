/**
 * `--with-latest` and `--with-version`: a package built from another release than the one its
 * definition names, found by an updater (src/update; Debian's source index by default). The
 * transformation itself is synchronous, as every entry of the table is, so the releases are
 * looked up beforehand (`prepareRelease`, awaited by `applyTransformOptions`); synchronous
 * callers of the code API get them from the updater's cached index. The new source is the
 * updater's tarball with its sha256; the definition's patches were written for its own
 * version, so they are dropped and the drop is reported (as Guix does). Results are not
 * cacheable: the latest release moves.
 */
import { TsdslError } from '../errors.js';
import { formatLocation } from '../dsl/location.js';
import { url } from '../dsl/origin.js';
import { derive, fullName, versionLike, type Package } from '../dsl/package.js';
import { DebianUpdater } from '../update/debian.js';
import { compareDebianVersions, upstreamOf } from '../update/debian-version.js';
import { defaultUpdater, findRelease, latestRelease, type Release } from '../update/index.js';
import { packageVersion } from '../update/updater.js';

/** Releases looked up by `prepareRelease`, by `name` or `name=version`. */
const prepared = new Map<string, Release>();

function key(name: string, version: string | undefined): string {
  return version === undefined ? name : `${name}=${version}`;
}

/** The updater's name for a package: `properties.debianName`, else its own name. */
export function updaterName(p: Package): string {
  const n = p.properties['debianName'];
  return typeof n === 'string' ? n : p.name;
}

/**
 * The error of looking `p` up, with how to name Debian's source package when the index knows
 * none of `p`'s name (xz is xz-utils) and the definition names none (`properties.debianName`).
 */
export function debianNameHint(e: unknown, p: Package): unknown {
  if (!(e instanceof TsdslError) || !/knows no package|has no package/.test(e.message) || p.properties['debianName'] !== undefined) return e;
  return new TsdslError(
    `${e.message}. If Debian's source package for \`${p.name}\` has another name, give it in the definition (${formatLocation(p.location)}): \`properties: { debianName: '…' }\``,
    { cause: e },
  );
}

/** Look up (and remember) the latest release of `p`, or release `version` of it. */
export async function prepareRelease(p: Package, version?: string): Promise<Release> {
  const name = updaterName(p);
  const hit = prepared.get(key(name, version));
  if (hit) return hit;
  const updater = defaultUpdater('debian', (t) => process.stderr.write(`tsdsl: ${t}\n`));
  let r: Release;
  try {
    r = version === undefined ? await latestRelease(updater, name) : await findRelease(updater, name, version);
  } catch (e) {
    throw debianNameHint(e, p);
  }
  prepared.set(key(name, version), r);
  return r;
}

/** The release looked up beforehand, or (latest only) the one in the updater's cached index. */
export function preparedRelease(option: string, name: string, version?: string): Release {
  const hit = prepared.get(key(name, version));
  if (hit) return hit;
  const updater = defaultUpdater('debian');
  if (version === undefined && updater instanceof DebianUpdater) {
    const { release, cached } = updater.latestCachedSync(name);
    if (release) return release;
    if (cached) throw new TsdslError(`--${option}: Debian's source index has no package \`${name}\``);
  }
  throw new TsdslError(
    `--${option}: the release of \`${name}\` has not been looked up; use the asynchronous API (applyTransformOptions) or run \`tsdsl refresh ${name}\` once to cache Debian's index`,
  );
}

/**
 * `p` built from `release`: its version, the updater's tarball and sha256, no patches. The
 * `debianVersion` property follows; `warn` hears about dropped patches.
 */
export function withRelease(p: Package, release: Release, option: string, warn: (text: string) => void): Package {
  const version = packageVersion(release);
  if (p.source?.kind === 'url' && p.source.sha256 === release.source.sha256 && p.version === version) return p;
  const patches = p.source?.patches.length ?? 0;
  if (patches > 0) {
    warn(`--${option}: the ${patches} patch${patches === 1 ? '' : 'es'} of ${fullName(p)} ${patches === 1 ? 'is' : 'are'} dropped (written for version ${p.version}, not ${release.version})`);
  }
  // Debian's file names hold `~` (hwloc_3.0.0~rc1.orig.tar.bz2), which a store path cannot: the
  // item is named without it, as the version is (3.0.0rc1).
  const source = url({ urls: release.source.urls, sha256: release.source.sha256, fileName: release.source.fileName.replace(/~/g, '') });
  const properties = { ...p.properties, ...(typeof p.properties['debianVersion'] === 'string' ? { debianVersion: release.fullVersion } : {}) };
  return derive(p, { version, source, properties });
}

/** True when `release` is newer than the package's version (Debian's ordering on upstream versions). */
export function isNewer(release: Release, p: Package): boolean {
  // The Debian version it was made from, when it is that version: `3.0.0rc1` (from 3.0.0~rc1)
  // precedes 3.0.0, as Debian orders them.
  const debian = p.properties['debianVersion'];
  const upstream = typeof debian === 'string' ? upstreamOf(debian).version : undefined;
  const mine = upstream !== undefined && versionLike(upstream) === p.version ? upstream : p.version;
  return compareDebianVersions(release.version, mine) > 0;
}
