/**
 * Mirrors: what `mirror://NAME/path` in an origin's URL list means on this machine.
 *
 * Origins name sources by URL lists (see src/dsl/origin.ts); before the fetcher (fetch.ts) tries
 * them, each `mirror://NAME/path` is expanded here into the candidate URLs of that mirror, in
 * the order they should be tried. Most mirrors are a fixed table of public roots, as in Guix's
 * `%mirrors`. `mirror://debian/…` is special: the Debian archive is the seed of the bootstrap
 * toolchain and its host is whatever this machine's apt already uses, so the roots come from the
 * apt sources (`/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.{list,sources}`) and are
 * never written in the code. `TSDSL_MIRROR_<NAME>` (space-separated base URLs) puts roots first
 * for any mirror of the table (a name outside it is an error where the package is defined: a
 * package file's mirror means the same everywhere) and is tried first — a snapshot archive, a local mirror, a
 * proxy.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TsdslError } from '../errors.js';

/** An environment map such as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where to read apt's configuration from; tests pass a fixture tree instead of `/`. */
export interface MirrorOptions {
  /** Root directory holding `etc/apt/…` (default `/`). */
  aptRoot?: string;
}

/**
 * Public mirror roots, first tried first. Each value is a base URL ending in `/`; the path after
 * `mirror://NAME/` is appended to it. `debian` has no fixed roots (apt sources decide) and `cpan`
 * none either: its hosts belong to a package registry, which this project does not name, so
 * `TSDSL_MIRROR_CPAN` must supply them.
 */
export const MIRRORS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  gnu: Object.freeze(['https://ftpmirror.gnu.org/gnu/', 'https://ftp.gnu.org/gnu/']),
  savannah: Object.freeze(['https://download.savannah.gnu.org/releases/', 'https://download-mirror.savannah.gnu.org/releases/']),
  sourceforge: Object.freeze(['https://downloads.sourceforge.net/project/', 'https://master.dl.sourceforge.net/project/']),
  kernel: Object.freeze(['https://cdn.kernel.org/pub/', 'https://mirrors.edge.kernel.org/pub/', 'https://www.kernel.org/pub/']),
  apache: Object.freeze(['https://dlcdn.apache.org/', 'https://archive.apache.org/dist/']),
  xorg: Object.freeze(['https://www.x.org/releases/', 'https://xorg.freedesktop.org/releases/']),
  cpan: Object.freeze([]),
  debian: Object.freeze([]),
});

/** One `deb` entry of apt's sources, in either file format. */
export interface AptSource {
  /** `deb`, `deb-src`, … (deb822 entries list several; one-line entries one). */
  types: readonly string[];
  /** Base URIs of the archive, without a trailing slash. */
  uris: readonly string[];
  suites: readonly string[];
  components: readonly string[];
  /** The file it came from, for messages. */
  file: string;
}

/** Debian's code names and suite aliases; other distributions' suites (Ubuntu's, third-party `nodistro`, …) are not Debian archives. */
const DEBIAN_SUITES = new Set([
  'buzz', 'rex', 'bo', 'hamm', 'slink', 'potato', 'woody', 'sarge', 'etch', 'lenny', 'squeeze', 'wheezy', 'jessie',
  'stretch', 'buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke', 'sid',
  'stable', 'oldstable', 'oldoldstable', 'testing', 'unstable', 'experimental',
]);

/** The code name a suite belongs to: `bookworm-security` → `bookworm`, `buster/updates` → `buster`. */
function suiteBase(suite: string): string {
  return suite.split(/[-/]/, 1)[0]!;
}

/** True for the suites of Debian's security archive (`bookworm-security`, and the old `buster/updates`). */
function isSecuritySuite(suite: string): boolean {
  return suite.endsWith('-security') || suite.endsWith('/updates');
}

function trimSlash(uri: string): string {
  return uri.replace(/\/+$/, '');
}

/**
 * Parses apt's one-line format (`deb [opt=val …] URI SUITE [COMPONENT…]`), as in
 * `/etc/apt/sources.list`. Comments and blank lines are skipped; `file` is only used in messages.
 */
export function parseSourcesList(text: string, file = 'sources.list'): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    // Options sit in one bracketed group that may contain spaces: `deb [ arch=amd64 signed-by=… ] uri …`.
    const m = /^(\S+)\s+(?:\[[^\]]*\]\s*)?(\S+)\s+(\S+)(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      types: [m[1]!],
      uris: [trimSlash(m[2]!)],
      suites: [m[3]!],
      components: m[4]!.trim().split(/\s+/).filter(Boolean),
      file,
    });
  }
  return out;
}

/**
 * Parses apt's deb822 format (`.sources` files): paragraphs of `Field: value` lines separated by
 * blank lines, continuation lines indented. Entries with `Enabled: no` are dropped.
 */
export function parseDeb822Sources(text: string, file = 'sources'): AptSource[] {
  const out: AptSource[] = [];
  const paragraphs: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  let lastKey: string | undefined;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) continue;
    if (raw.trim() === '') {
      if (current.size > 0) paragraphs.push(current);
      current = new Map();
      lastKey = undefined;
      continue;
    }
    if (/^[ \t]/.test(raw)) {
      // A continuation line (multi-line Signed-By keys, long URI lists).
      if (lastKey !== undefined) current.set(lastKey, `${current.get(lastKey) ?? ''}\n${raw.trim()}`);
      continue;
    }
    const colon = raw.indexOf(':');
    if (colon <= 0) continue;
    lastKey = raw.slice(0, colon).trim().toLowerCase();
    current.set(lastKey, raw.slice(colon + 1).trim());
  }
  if (current.size > 0) paragraphs.push(current);
  for (const p of paragraphs) {
    if ((p.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const words = (key: string): string[] => (p.get(key) ?? '').split(/\s+/).filter(Boolean);
    const uris = words('uris').map(trimSlash);
    if (uris.length === 0) continue;
    out.push({ types: words('types'), uris, suites: words('suites'), components: words('components'), file });
  }
  return out;
}

/**
 * Reads every source apt would read, in apt's order: `etc/apt/sources.list`, then the `.list`
 * and `.sources` files of `etc/apt/sources.list.d/` sorted by name (other extensions, such as
 * `.disabled`, are ignored as apt ignores them).
 */
export function readAptSources(options: MirrorOptions = {}): AptSource[] {
  const root = options.aptRoot ?? '/';
  const out: AptSource[] = [];
  const main = join(root, 'etc/apt/sources.list');
  const text = readOptional(main);
  if (text !== undefined) out.push(...parseSourcesList(text, main));
  const dir = join(root, 'etc/apt/sources.list.d');
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    // No sources.list.d: only the main file counts.
  }
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith('.list')) {
      const t = readOptional(path);
      if (t !== undefined) out.push(...parseSourcesList(t, path));
    } else if (name.endsWith('.sources')) {
      const t = readOptional(path);
      if (t !== undefined) out.push(...parseDeb822Sources(t, path));
    }
  }
  return out;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Base URLs of the Debian archive (`main`) and of its security archive (`security`) found in apt's sources. */
export interface DebianArchives {
  main: string[];
  security: string[];
}

/**
 * The Debian archive roots this machine's apt uses: binary (`deb`) entries whose suites are
 * Debian's and that carry the `main` component, split into the main archive and the security
 * archive (whose pool is `pool/updates/`). Only http, https and file URIs are kept, since those
 * are what the fetcher speaks.
 */
export function debianArchives(options: MirrorOptions = {}): DebianArchives {
  const main: string[] = [];
  const security: string[] = [];
  for (const s of readAptSources(options)) {
    if (!s.types.includes('deb')) continue;
    if (!s.components.includes('main')) continue;
    const debianSuites = s.suites.filter((x) => DEBIAN_SUITES.has(suiteBase(x)));
    if (debianSuites.length === 0) continue;
    const isSecurity = debianSuites.some(isSecuritySuite);
    const isMain = debianSuites.some((x) => !isSecuritySuite(x));
    for (const uri of s.uris) {
      if (!/^(https?|file):\/\//.test(uri)) continue;
      if (isSecurity && !security.includes(uri)) security.push(uri);
      if (isMain && !main.includes(uri)) main.push(uri);
    }
  }
  return { main, security };
}

/** The environment variable that supplies roots for mirror `name` (`TSDSL_MIRROR_DEBIAN`, …). */
export function mirrorEnvVar(name: string): string {
  return `TSDSL_MIRROR_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

function envBases(env: Env, variable: string): string[] {
  return (env[variable] ?? '').split(/\s+/).filter(Boolean);
}

function join2(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/**
 * Expands one URL into the URLs to try, in order. A plain URL comes back alone; a
 * `mirror://NAME/path` becomes `TSDSL_MIRROR_<NAME>`'s roots, then the built-in or apt-derived
 * roots, each joined with `path`. For `mirror://debian/pool/updates/…` (the security archive's
 * pool) the apt roots are those of `-security` suites, after `TSDSL_MIRROR_DEBIAN_SECURITY`.
 * Throws a `TsdslError` for an unknown mirror, or one with no roots on this machine.
 */
export function resolveMirrorUrl(url: string, env: Env = process.env, options: MirrorOptions = {}): string[] {
  if (!url.startsWith('mirror://')) return [url];
  const m = /^mirror:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!m) throw new TsdslError(`mirror URL \`${url}\` is malformed; write it as mirror://NAME/path`);
  const name = m[1]!;
  const path = m[2]!;
  const table = MIRRORS[name];
  if (table === undefined) {
    throw new TsdslError(
      `unknown mirror \`${name}\` in \`${url}\`; the mirrors are ${Object.keys(MIRRORS).join(', ')} (TSDSL_MIRROR_<NAME> gives one of them roots of your own); or give the full https:// URL`,
    );
  }
  const bases: string[] = [];
  const add = (list: readonly string[]): void => {
    for (const b of list) if (!bases.includes(b)) bases.push(b);
  };
  if (name === 'debian') {
    const security = path.startsWith('pool/updates/');
    if (security) add(envBases(env, 'TSDSL_MIRROR_DEBIAN_SECURITY'));
    add(envBases(env, 'TSDSL_MIRROR_DEBIAN'));
    const archives = debianArchives(options);
    add(security ? archives.security : archives.main);
    if (bases.length === 0) {
      const where = join(options.aptRoot ?? '/', 'etc/apt');
      throw new TsdslError(
        `cannot resolve \`${url}\`: apt has no Debian ${security ? 'security ' : ''}archive configured in ${where}; ` +
          `set ${security ? 'TSDSL_MIRROR_DEBIAN_SECURITY' : 'TSDSL_MIRROR_DEBIAN'} to the base URL of a Debian ${security ? 'security ' : ''}archive (space-separated for several)`,
      );
    }
  } else {
    add(envBases(env, mirrorEnvVar(name)));
    add(table);
    if (bases.length === 0) {
      throw new TsdslError(`mirror \`${name}\` has no built-in hosts; set ${mirrorEnvVar(name)} to one or more base URLs (space-separated) to fetch \`${url}\``);
    }
  }
  return bases.map((b) => join2(b, path));
}

/** Expands every URL of a list (see `resolveMirrorUrl`), keeping order and dropping duplicates. */
export function expandUrls(urls: readonly string[], env: Env = process.env, options: MirrorOptions = {}): string[] {
  const out: string[] = [];
  for (const u of urls) for (const x of resolveMirrorUrl(u, env, options)) if (!out.includes(x)) out.push(x);
  return out;
}
