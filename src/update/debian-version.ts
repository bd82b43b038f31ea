/**
 * Debian version strings: dpkg's ordering (`epoch:upstream-revision`, `~` sorts before
 * everything, letters before other symbols) and the upstream version a Debian version stands
 * for. The Debian updater (debian.ts) uses both to say whether the index has something newer
 * than a package's version and which tarball belongs to it.
 */

/** Parts of a Debian version: `1:2.9.0+dfsg-1` → epoch 1, upstream `2.9.0+dfsg`, revision `1`. */
export interface DebianVersion {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
}

/** Split a Debian version into epoch, upstream version and revision (dpkg's rules). */
export function parseDebianVersion(text: string): DebianVersion {
  let rest = text.trim();
  let epoch = 0;
  const colon = rest.indexOf(':');
  if (colon > 0 && /^\d+$/.test(rest.slice(0, colon))) {
    epoch = Number(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash > 0) return { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) };
  return { epoch, upstream: rest, revision: '' };
}

/** dpkg's weight of one character in the non-digit parts: `~` lowest, then end, letters, others. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's `verrevcmp`: alternating non-digit and digit runs. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !/\d/.test(a[i]!)) || (j < b.length && !/\d/.test(b[j]!))) {
      const ac = i < a.length && !/\d/.test(a[i]!) ? order(a[i]) : 0;
      const bc = j < b.length && !/\d/.test(b[j]!) ? order(b[j]) : 0;
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (i < a.length && /\d/.test(a[i]!) && j < b.length && /\d/.test(b[j]!)) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && /\d/.test(a[i]!)) return 1;
    if (j < b.length && /\d/.test(b[j]!)) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Compare two Debian versions as dpkg does: negative, zero or positive. */
export function compareDebianVersions(a: string, b: string): number {
  const x = parseDebianVersion(a);
  const y = parseDebianVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return compareFragment(x.upstream, y.upstream) || compareFragment(x.revision, y.revision);
}

/** Suffixes Debian adds to the upstream version of a repacked tarball (`+dfsg`, `.dfsg1`, `+ds`, `+repack`). */
const REPACK = /[+.~](?:dfsg|ds|repack)\d*(?:[.+~].*)?$/i;

/**
 * The upstream version a Debian version packages: epoch, revision and repack suffix removed
 * (`2:3.8.2+dfsg-1` → `3.8.2`, `1:1.3.dfsg+really1.3.2-4` → `1.3.2`), and whether Debian repacked the tarball (then its file is not
 * upstream's and only Debian's pool serves it).
 */
export function upstreamOf(debianVersion: string): { version: string; repacked: boolean } {
  let { upstream } = parseDebianVersion(debianVersion);
  // `1.3.dfsg+really1.3.2`: Debian's way to go back to (or on to) another upstream version.
  const really = upstream.lastIndexOf('+really');
  if (really >= 0) upstream = upstream.slice(really + '+really'.length);
  const repacked = REPACK.test(upstream);
  return { version: upstream.replace(REPACK, ''), repacked };
}
