/**
 * The Debian updater: release information from the `Sources` index of a Debian archive
 * (`dists/<suite>/main/source/Sources.xz`), the same data `apt-cache showsrc` prints — versions,
 * the `.orig.tar.*` files with sizes and sha256, Build-Depends, Homepage.
 *
 * The archive is the one this machine's apt uses (read through build/mirrors.ts, never written
 * in the code) unless `TSDSL_MIRROR_DEBIAN` names another. The suites default to `unstable`
 * (the newest Debian has) followed by the Debian suites in apt's sources (`bookworm`,
 * `bookworm-updates`); `TSDSL_DEBIAN_SUITES` (space-separated) replaces that list. For each
 * suite the signed `InRelease` is fetched and checked with `gpgv` against Debian's archive
 * keyring, and gives the sha256 of `Sources.xz`, which is fetched, checked, decompressed with
 * `xz` and parsed. The parsed index is cached as JSON under the updater cache
 * (`TSDSL_UPDATER_CACHE`, else `$XDG_CACHE_HOME/tsdsl/updaters`, else `~/.cache/tsdsl/updaters`)
 * for `TSDSL_UPDATER_MAX_AGE` seconds (default one day); a cache file is only ever replaced by
 * a rename, so an unreachable archive leaves nothing half-written.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsdslError, causeOf } from '../errors.js';
import { makeCacheDirectories } from '../store/tree.js';
import { debianArchives, readAptSources, type Env, type MirrorOptions } from '../build/mirrors.js';
import { compareDebianVersions, upstreamOf } from './debian-version.js';
import { parseSources, type SourceEntry } from './sources-index.js';
import type { Release, Updater } from './updater.js';

/** How the Debian updater finds and caches its index. */
export interface DebianUpdaterOptions {
  /** Archive base URLs (http, https, file); default `TSDSL_MIRROR_DEBIAN`, else apt's Debian archive. */
  archives?: readonly string[];
  /** Suites, consulted in order; default `TSDSL_DEBIAN_SUITES`, else `unstable` + apt's Debian suites. */
  suites?: readonly string[];
  /** Cache directory for parsed indexes. */
  cacheDir?: string;
  /** Seconds a cached index is used without asking the archive (default `TSDSL_UPDATER_MAX_AGE` or 86400). */
  maxAgeSeconds?: number;
  /** Keyring for `gpgv`, or `none` to skip the signature check (default `TSDSL_DEBIAN_KEYRING` or Debian's archive keyring). */
  keyring?: string;
  env?: Env;
  aptRoot?: string;
  /** One-line notes (index refreshed, stale cache used). */
  log?: (text: string) => void;
}

const DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const CACHE_FORMAT = 1;

/** The updater cache directory (see the module comment). */
export function defaultUpdaterCache(env: Env = process.env): string {
  if (env.TSDSL_UPDATER_CACHE) return env.TSDSL_UPDATER_CACHE;
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'tsdsl', 'updaters');
  return join(env.HOME || homedir(), '.cache', 'tsdsl', 'updaters');
}

/** Debian suites of apt's sources, security suites left out (their pool is elsewhere). */
export function aptDebianSuites(options: MirrorOptions = {}): string[] {
  const out: string[] = [];
  const archives = new Set(debianArchives(options).main);
  for (const s of readAptSources(options)) {
    if (!s.components.includes('main') || !s.uris.some((u) => archives.has(u))) continue;
    for (const suite of s.suites) if (!/-security$|\/updates$/.test(suite) && !out.includes(suite)) out.push(suite);
  }
  return out;
}

/** The cached, parsed index of one suite. */
interface CachedIndex {
  format: number;
  archive: string;
  suite: string;
  /** sha256 of the Sources.xz it was parsed from. */
  sourcesSha256: string;
  entries: SourceEntry[];
}

interface LoadedIndex {
  suite: string;
  byName: Map<string, SourceEntry>;
  /** Binary package → source package, built on first use. */
  bySource?: Map<string, string>;
}

async function getBytes(url: string, what: string): Promise<Buffer> {
  if (url.startsWith('file://')) {
    try {
      return readFileSync(fileURLToPath(url));
    } catch (e) {
      throw new Error(`${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${what}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Check InRelease's signature and return the signed text. */
function verifiedRelease(bytes: Buffer, keyring: string, url: string): string {
  if (keyring === 'none') return bytes.toString('utf8').replace(/^-----BEGIN PGP SIGNED MESSAGE-----\n(?:Hash:.*\n)*\n/, '');
  if (!existsSync(keyring)) {
    throw new TsdslError(
      `cannot check the signature of ${url}: keyring ${keyring} does not exist; install debian-archive-keyring, or set TSDSL_DEBIAN_KEYRING to a keyring (or to \`none\` to trust the archive unchecked)`,
    );
  }
  const r = spawnSync('gpgv', ['--keyring', keyring, '--output', '-', '-'], { input: bytes, maxBuffer: 64 << 20 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new TsdslError('the `gpgv` command is not installed; install gpgv to check Debian\'s index signatures, or set TSDSL_DEBIAN_KEYRING=none');
  if (r.status !== 0) {
    const why = causeOf(r.stderr.toString(), `gpgv exited with status ${r.status}`);
    throw new TsdslError(`the signature of ${url} does not check out against ${keyring} (${why}); the archive or a proxy in between serves altered data`);
  }
  return r.stdout.toString('utf8');
}

/** The sha256 and size of `path` in a Release file's SHA256 section. */
function releaseChecksum(release: string, path: string): { sha256: string; size: number } | undefined {
  const section = /^SHA256:\n((?:[ \t].*\n?)*)/m.exec(release);
  for (const line of (section?.[1] ?? '').split('\n')) {
    const [sha256, size, file] = line.trim().split(/\s+/);
    if (file === path && sha256 && size) return { sha256, size: Number(size) };
  }
  return undefined;
}

function xzDecompress(bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new TsdslError('the `xz` command is not installed; install xz-utils to read Debian\'s source index') : e),
    );
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`xz -dc failed: ${stderr.trim()}`))));
    child.stdin.on('error', () => {});
    child.stdin.end(bytes);
  });
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean
    }
    throw e;
  }
}

/** Package names an index may hold: Debian's rules (lower case, digits, `+-.`). */
const DEBIAN_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

/** The Debian updater over a set of suites of one archive (see the module comment). */
export class DebianUpdater implements Updater {
  readonly name = 'debian';
  readonly description = 'Debian source index (apt-cache showsrc)';
  readonly archives: readonly string[];
  readonly suites: readonly string[];
  private readonly cacheDir: string;
  private readonly maxAge: number;
  private readonly keyring: string;
  private readonly log: (text: string) => void;
  private readonly loaded = new Map<string, Promise<LoadedIndex>>();

  constructor(options: DebianUpdaterOptions = {}) {
    const env = options.env ?? process.env;
    const mirrorOptions = options.aptRoot ? { aptRoot: options.aptRoot } : {};
    this.archives = (options.archives ?? (env.TSDSL_MIRROR_DEBIAN ? env.TSDSL_MIRROR_DEBIAN.split(/\s+/).filter(Boolean) : debianArchives(mirrorOptions).main)).map((a) =>
      a.replace(/\/+$/, ''),
    );
    const suites = options.suites ?? (env.TSDSL_DEBIAN_SUITES ? env.TSDSL_DEBIAN_SUITES.split(/\s+/).filter(Boolean) : ['unstable', ...aptDebianSuites(mirrorOptions)]);
    this.suites = [...new Set(suites)];
    this.cacheDir = options.cacheDir ?? defaultUpdaterCache(env);
    const maxAge = options.maxAgeSeconds ?? (env.TSDSL_UPDATER_MAX_AGE !== undefined ? Number(env.TSDSL_UPDATER_MAX_AGE) : 86_400);
    if (!Number.isFinite(maxAge) || maxAge < 0) throw new TsdslError(`TSDSL_UPDATER_MAX_AGE=${env.TSDSL_UPDATER_MAX_AGE}: expected a number of seconds (e.g. 3600)`);
    this.maxAge = maxAge;
    this.keyring = options.keyring ?? env.TSDSL_DEBIAN_KEYRING ?? DEFAULT_KEYRING;
    this.log = options.log ?? (() => {});
    if (this.archives.length === 0) {
      throw new TsdslError(
        'the debian updater found no Debian archive in apt\'s sources (/etc/apt/sources.list, /etc/apt/sources.list.d/); set TSDSL_MIRROR_DEBIAN to the base URL of a Debian archive',
      );
    }
  }

  private cacheFile(suite: string): string {
    const key = createHash('sha256').update(`${this.archives[0]}\n${suite}`).digest('hex').slice(0, 16);
    return join(this.cacheDir, 'debian', `${key}-${suite.replace(/[^A-Za-z0-9.-]/g, '_')}.json`);
  }

  private readCache(file: string): CachedIndex | undefined {
    try {
      const c = JSON.parse(readFileSync(file, 'utf8')) as CachedIndex;
      return c.format === CACHE_FORMAT && Array.isArray(c.entries) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  private static toLoaded(c: CachedIndex): LoadedIndex {
    return { suite: c.suite, byName: new Map(c.entries.map((e) => [e.name, e])) };
  }

  /** The parsed index of `suite`: from the cache while fresh, else fetched (see the module comment). */
  index(suite: string): Promise<LoadedIndex> {
    let p = this.loaded.get(suite);
    if (!p) {
      p = this.loadIndex(suite);
      this.loaded.set(suite, p);
      p.catch(() => this.loaded.delete(suite));
    }
    return p;
  }

  /** The cached index of `suite` whatever its age, without the network (for synchronous callers). */
  cachedIndexSync(suite: string): Map<string, SourceEntry> | undefined {
    const c = this.readCache(this.cacheFile(suite));
    return c ? DebianUpdater.toLoaded(c).byName : undefined;
  }

  private async loadIndex(suite: string): Promise<LoadedIndex> {
    const file = this.cacheFile(suite);
    let cached: CachedIndex | undefined;
    if (existsSync(file)) {
      const age = (Date.now() - statSync(file).mtimeMs) / 1000;
      cached = this.readCache(file);
      if (cached && age <= this.maxAge) return DebianUpdater.toLoaded(cached);
    }
    const failures: string[] = [];
    for (const archive of this.archives) {
      const releaseUrl = `${archive}/dists/${suite}/InRelease`;
      try {
        const release = verifiedRelease(await getBytes(releaseUrl, releaseUrl), this.keyring, releaseUrl);
        const sum = releaseChecksum(release, 'main/source/Sources.xz');
        if (!sum) throw new Error(`${releaseUrl} lists no main/source/Sources.xz`);
        if (cached && cached.sourcesSha256 === sum.sha256) {
          // Same index as before: only its age is renewed.
          atomicWrite(file, JSON.stringify(cached));
          return DebianUpdater.toLoaded(cached);
        }
        const sourcesUrl = `${archive}/dists/${suite}/main/source/Sources.xz`;
        this.log(`fetching ${sourcesUrl} (${(sum.size / 1e6).toFixed(1)} MB)`);
        const xz = await getBytes(sourcesUrl, sourcesUrl);
        const actual = createHash('sha256').update(xz).digest('hex');
        if (actual !== sum.sha256) throw new Error(`${sourcesUrl} has sha256 ${actual}, but InRelease says ${sum.sha256} (the index changed while fetching? try again)`);
        const entries = [...parseSources(await xzDecompress(xz)).values()];
        const fresh: CachedIndex = { format: CACHE_FORMAT, archive, suite, sourcesSha256: sum.sha256, entries };
        // Made only now: an index that cannot be reached leaves nothing behind.
        makeCacheDirectories(this.cacheDir, "the updaters' cache", 'TSDSL_UPDATER_CACHE', 'debian');
        atomicWrite(file, JSON.stringify(fresh));
        return DebianUpdater.toLoaded(fresh);
      } catch (e) {
        if (e instanceof TsdslError) throw e;
        failures.push((e as Error).message);
      }
    }
    if (cached) {
      this.log(`Debian's ${suite} index cannot be reached (${failures.join('; ')}); using the cached copy from ${statSync(file).mtime.toISOString()}`);
      return DebianUpdater.toLoaded(cached);
    }
    throw new TsdslError(
      `cannot reach Debian's source index for suite \`${suite}\` (${failures.join('; ')}); nothing was written. ` +
        'Check the network and apt\'s sources (`apt-get update` should work), set TSDSL_MIRROR_DEBIAN to a reachable Debian archive, or TSDSL_DEBIAN_SUITES to suites it has',
    );
  }

  private release(entry: SourceEntry, suite: string): Release | undefined {
    const file = entry.orig[0];
    if (!file) return undefined;
    const { version, repacked } = upstreamOf(entry.version);
    return {
      name: entry.name,
      version,
      fullVersion: entry.version,
      where: suite,
      source: { urls: [`mirror://debian/${entry.directory}/${file.name}`], sha256: file.sha256, size: file.size, fileName: file.name },
      repacked,
      homePage: entry.homepage,
      buildDepends: parseRelations(entry.buildDepends),
    };
  }

  async releases(name: string): Promise<readonly Release[]> {
    if (!DEBIAN_NAME.test(name)) return [];
    const out: Release[] = [];
    for (const suite of this.suites) {
      const e = (await this.index(suite)).byName.get(name);
      const r = e && this.release(e, suite);
      if (r && !out.some((x) => x.fullVersion === r.fullVersion)) out.push(r);
    }
    return out.sort((a, b) => compareDebianVersions(b.fullVersion, a.fullVersion));
  }

  /** The newest release that is not a pre-release (`~rc2`), else the newest. */
  async latest(name: string): Promise<Release | undefined> {
    const all = await this.releases(name);
    return all.find((r) => !r.version.includes('~')) ?? all[0];
  }

  /** The latest release from the cached indexes only (synchronous; undefined when none is cached). */
  latestCachedSync(name: string): { release: Release | undefined; cached: boolean } {
    const out: Release[] = [];
    let cached = false;
    for (const suite of this.suites) {
      const idx = this.cachedIndexSync(suite);
      if (!idx) continue;
      cached = true;
      const e = idx.get(name);
      const r = e && this.release(e, suite);
      if (r) out.push(r);
    }
    out.sort((a, b) => compareDebianVersions(b.fullVersion, a.fullVersion));
    return { release: out.find((r) => !r.version.includes('~')) ?? out[0], cached };
  }

  async names(): Promise<Iterable<string>> {
    const all = new Set<string>();
    for (const suite of this.suites) for (const n of (await this.index(suite)).byName.keys()) all.add(n);
    return all;
  }

  async sourceOfBinary(binary: string): Promise<string | undefined> {
    for (const suite of this.suites) {
      const idx = await this.index(suite);
      if (!idx.bySource) {
        idx.bySource = new Map();
        for (const e of idx.byName.values()) for (const b of e.binaries) if (!idx.bySource.has(b)) idx.bySource.set(b, e.name);
      }
      const hit = idx.bySource.get(binary);
      if (hit) return hit;
    }
    return undefined;
  }
}

/**
 * Names in a Debian relation field, first alternative of each, without version constraints,
 * architecture lists, build profiles or `:any` qualifiers:
 * `libnuma-dev [linux-any] <!nocheck>, ocl-icd-opencl-dev | opencl-dev` → `libnuma-dev`, `ocl-icd-opencl-dev`.
 */
export function parseRelations(field: string): string[] {
  const out: string[] = [];
  for (const rel of field.split(',')) {
    const first = rel.split('|')[0]!.replace(/\([^)]*\)|\[[^\]]*\]|<[^>]*>/g, '').trim().replace(/:[a-z0-9-]+$/, '');
    if (first && !out.includes(first)) out.push(first);
  }
  return out;
}
