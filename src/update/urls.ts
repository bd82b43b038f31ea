/**
 * URLs of a definition carried over to another release: Debian pool URLs become the release's
 * pool file, other URLs get the new version in place of the old (and `vMAJOR.MINOR/`
 * directories likewise). Used by `tsdsl refresh -u` and by `tsdsl import` when the collection
 * already knows where a package's upstream tarballs live.
 */
import { TsdslError } from '../errors.js';
import { escapeRegExp } from '../regexp.js';
import { validateStoreName } from '../derivation/hash.js';
import { packageVersion, type Release } from './updater.js';

/** `old` (the URLs of a definition of version `from`) for `release`; `where` names it in errors. */
export function newUrls(old: readonly string[], from: string, release: Release, where: string): string[] {
  const upstream = old.filter((u) => !u.startsWith('mirror://debian/'));
  if (release.repacked && upstream.length) {
    throw new TsdslError(
      `${where}: Debian repacked ${release.name} ${release.version} (${release.fullVersion}), so the upstream URLs ${upstream.join(', ')} do not serve its sha256; ` +
        'make the Debian pool URL the only one, then run again',
    );
  }
  const mm = (v: string) => v.split('.').slice(0, 2).join('.');
  // The version as the package writes it (Debian's `3.0.0~rc1` is `3.0.0rc1`): no upstream URL has a `~`.
  const to = packageVersion(release);
  return old.map((u) => {
    if (u.startsWith('mirror://debian/')) return release.source.urls[0]!;
    if (!u.includes(from)) throw new TsdslError(`${where}: the URL ${u} does not contain the version ${from}, so its new form is unknown; update it by hand`);
    let n = u.split(from).join(to);
    if (mm(from) !== mm(to)) n = n.replace(new RegExp(`(/v?)${escapeRegExp(mm(from))}/`, 'g'), `$1${mm(to)}/`);
    return n;
  });
}

/**
 * A url() origin's `fileName` (its store item's name) for `release`: the version in it replaced
 * as in the URLs (one without it, `hwloc.tar.bz2`, names every release alike and keeps its name),
 * and its compression suffix that of the release's file.
 */
export function newFileName(old: string, from: string, release: Release): string {
  const name = old.includes(from) ? old.split(from).join(packageVersion(release)) : old;
  // The release's sha256 is that of Debian's file: where its compression differs from the old
  // name's (`.tar.gz` → `.tar.xz`), the store item is named for what it holds.
  const was = ARCHIVE_SUFFIX.exec(name)?.[0];
  const now = ARCHIVE_SUFFIX.exec(release.source.fileName)?.[0];
  return was && now && was !== now ? name.slice(0, -was.length) + now : name;
}

const ARCHIVE_SUFFIX = /\.(?:tar\.(?:gz|bz2|xz|zst|lz|lzma|Z)|tgz|tbz2?|txz|zip)$/;

/**
 * The `fileName` to add to a url() origin that has none, given its new URLs: the first URL's file
 * name when a store path cannot hold it (Debian's `emmax_0~beta.20200101.orig.tar.gz`), without
 * the `~` as `tsdsl import` and `--with-latest` write it; undefined when it can.
 */
export function addedFileName(urls: readonly string[]): string | undefined {
  const first = urls[0];
  if (first === undefined) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(first.replace(/[?#].*$/, '').split('/').pop() ?? '');
  } catch {
    return undefined;
  }
  if (name === '' || validateStoreName(name) === undefined) return undefined;
  const fixed = name.replace(/~/g, '');
  // Only the `~` is Debian's doing; any other trouble is left for url() to report.
  return validateStoreName(fixed) === undefined ? fixed : undefined;
}
