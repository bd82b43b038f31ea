/**
 * Fetchers: how tsdsl itself downloads sources (outside any sandbox) for fixed-output origins.
 *
 * The lowering stage turns a `url()` or `git()` origin into a fixed-output derivation; the
 * builder realises it by calling `fetchUrl` or `fetchGit` here and then adding the result to the
 * store under the pinned hash. Both keep a cache on disk so that tests, CI and rebuilds never
 * fetch the same bytes twice: downloads are kept by sha256 in the download cache
 * (`TSDSL_DOWNLOAD_CACHE`, else `$XDG_CACHE_HOME/tsdsl/downloads`, else
 * `~/.cache/tsdsl/downloads`), git repositories by URL and checkouts by commit beneath it.
 *
 * `fetchUrl` tries each URL in order (after `mirror://` expansion, see mirrors.ts), retries
 * transient failures with backoff, resumes a broken transfer with a Range request, streams to a
 * temporary file while hashing it and only moves a file whose sha256 matches into the cache, so
 * a name in the cache always means verified content.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Hash as CryptoHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nix32Encode, parseHash } from '../derivation/hash.js';
import { TsdslError } from '../errors.js';
import { narHash } from '../store/nar.js';
import { LockDirectory, OWNED_AT, abortReason, ownerWhere, removeLeftoversOfDead, sleep } from '../store/lock.js';
import { directorySetting, makeCacheDirectories } from '../store/tree.js';
import { mirrorEnvVar, resolveMirrorUrl } from './mirrors.js';
import type { Env } from './mirrors.js';

/** The download cache directory: `TSDSL_DOWNLOAD_CACHE`, else `$XDG_CACHE_HOME/tsdsl/downloads`, else `~/.cache/tsdsl/downloads`. */
export function defaultDownloadCache(env: Env = process.env): string {
  const set = directorySetting(env, 'TSDSL_DOWNLOAD_CACHE');
  if (set) return set;
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'tsdsl', 'downloads');
  return join(env.HOME || homedir(), '.cache', 'tsdsl', 'downloads');
}

/** Makes a directory of the download cache, or says which setting to change. */
/** A partial download's name: its process and where it runs (the cache may be shared across containers and hosts). */
const PARTIAL = new RegExp(`^\\.tmp-(\\d+)-${OWNED_AT}-[0-9a-f]{12}$`);

const makeCache = (dir: string): void => makeCacheDirectories(dir, 'the download cache', 'TSDSL_DOWNLOAD_CACHE');

/** What to download: URLs tried in order, the expected sha256, and the file's name. */
export interface FetchUrlRequest {
  /** Candidate URLs (http, https, file, mirror://), first tried first. */
  urls: readonly string[];
  /** Expected sha256 (hex, nix-base32 or SRI); undefined to download, hash and report it. */
  sha256: string | undefined;
  /** The file's name, used in messages (the cache names files by hash). */
  fileName: string;
}

/** How to download. */
export interface FetchUrlOptions {
  /** Download cache directory (default `defaultDownloadCache(env)`). */
  cacheDir?: string;
  /** Called as bytes arrive: bytes so far and the total when the server said it. */
  onProgress?: (bytes: number, total: number | undefined) => void;
  /** Cancels the download; the signal's reason is thrown. */
  signal?: AbortSignal;
  /** Environment for mirror resolution and the default cache (default `process.env`). */
  env?: Env;
  /** Root of the apt configuration used to resolve `mirror://debian` (default `/`). */
  aptRoot?: string;
  /** Retries of a transient failure per URL (default 3). */
  retries?: number;
  /** First backoff delay in ms, doubled at each retry (default 1000). */
  retryDelayMs?: number;
  /** Give up on a connection that sends nothing for this long, in ms (default 60 000); counts as transient. */
  stallTimeoutMs?: number;
  /** Receives one-line notes (retries, resumptions) for the build log. */
  log?: (message: string) => void;
}

/** A verified file in the download cache. */
export interface FetchedFile {
  /** Absolute path in the cache (`<cacheDir>/<sha256 hex>`). */
  path: string;
  /** sha256 of the contents, lower-case hex. */
  sha256: string;
  size: number;
  /** The URL it came from; undefined when it was already in the cache. */
  url: string | undefined;
}

/** An error worth retrying on the same URL (network trouble, 5xx). */
class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function normaliseSha256(text: string): string {
  if (/^[0-9a-f]{64}$/.test(text)) return text;
  try {
    return parseHash(text, 'sha256').digest.toString('hex');
  } catch (e) {
    throw new TsdslError(`invalid sha256 \`${text}\`: ${(e as Error).message}`);
  }
}

/** Hex and nix-base32 of a hex sha256, as users may have written either. */
function bothForms(hex: string): string {
  return `${hex} (nix-base32 ${nix32Encode(Buffer.from(hex, 'hex'))})`;
}

async function exists(path: string): Promise<{ size: number } | undefined> {
  try {
    const st = await fsp.stat(path);
    return st.isFile() ? { size: st.size } : undefined;
  } catch {
    return undefined;
  }
}

/** The useful part of an error thrown by `fetch` (which says only "fetch failed" and hides the cause). */
function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  if (e.message === 'fetch failed' && cause instanceof Error) return describeError(cause);
  const code = (e as NodeJS.ErrnoException).code;
  return code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
}

// Network errors worth a second try on the same URL; anything else (refused connection, unknown
// host, bad certificate, blocked port) will fail the same way again, so the next URL is tried.
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETDOWN', 'ECONNABORTED',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

function isTransientNetworkError(e: unknown): boolean {
  let x: unknown = e;
  for (let i = 0; i < 4 && x instanceof Error; i++) {
    const code = (x as NodeJS.ErrnoException).code;
    if (code && TRANSIENT_CODES.has(code)) return true;
    if (/\b(terminated|socket hang up|other side closed)\b/i.test(x.message)) return true;
    x = (x as { cause?: unknown }).cause;
  }
  return false;
}

/** Receives the bytes of one candidate URL: appends them to the temp file and hashes them. */
class Sink {
  hash: CryptoHash = createHash('sha256');
  written = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly onProgress: FetchUrlOptions['onProgress'],
  ) {}

  /** Starts over (the server ignored our Range request). */
  async reset(): Promise<void> {
    await this.handle.truncate(0);
    this.hash = createHash('sha256');
    this.written = 0;
  }

  async write(chunk: Uint8Array, total: number | undefined): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, off, chunk.length - off, this.written + off);
      off += bytesWritten;
    }
    this.hash.update(chunk);
    this.written += chunk.length;
    this.onProgress?.(this.written, total);
  }
}

/** Copies a `file://` URL into the sink. */
async function fetchFile(url: string, sink: Sink, signal: AbortSignal | undefined): Promise<void> {
  const path = fileURLToPath(url);
  const st = await fsp.stat(path);
  if (!st.isFile()) throw new Error(`${path} is not a regular file`);
  const stream = createReadStream(path, signal ? { signal } : {});
  for await (const chunk of stream) await sink.write(chunk as Buffer, st.size);
}

/** One HTTP(S) request, resuming at `sink.written` when it is not zero. */
async function httpAttempt(
  url: string,
  sink: Sink,
  validator: { value: string | undefined },
  options: FetchUrlOptions,
): Promise<void> {
  const stall = new AbortController();
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new TransientError(`no data received for ${stallMs >= 1000 ? `${Math.round(stallMs / 1000)} s` : `${stallMs} ms`}`)), stallMs);
  };
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  // `identity`: with a compressed Content-Encoding, fetch would hand us decompressed bytes,
  // and a `.tar.gz` served as `Content-Encoding: gzip` would then fail its hash.
  const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'tsdsl (source fetcher)' };
  const resumeFrom = sink.written;
  if (resumeFrom > 0) {
    headers.range = `bytes=${resumeFrom}-`;
    // If-Range: a changed file comes back whole (200) instead of a mismatched tail.
    if (validator.value) headers['if-range'] = validator.value;
  }
  arm();
  try {
    let res: Response;
    try {
      res = await fetch(url, { headers, redirect: 'follow', signal });
    } catch (e) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      if (stall.signal.aborted) throw stall.signal.reason;
      if (isTransientNetworkError(e)) throw new TransientError(describeError(e));
      throw new Error(describeError(e));
    }
    if (res.status === 416 && resumeFrom > 0) {
      // What we have does not fit the file any more: start again from nothing.
      await res.body?.cancel();
      await sink.reset();
      throw new TransientError('server refused to resume (HTTP 416)');
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      const text = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (res.status >= 500 || res.status === 408 || res.status === 429) {
        const ra = Number(res.headers.get('retry-after'));
        throw new TransientError(text, Number.isFinite(ra) && ra > 0 ? Math.min(ra, 30) * 1000 : undefined);
      }
      throw new Error(text);
    }
    let total: number | undefined;
    const length = Number(res.headers.get('content-length') ?? NaN);
    if (res.status === 206 && resumeFrom > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== resumeFrom) {
        // A range we did not ask for: trust nothing and start over.
        await res.body?.cancel().catch(() => undefined);
        await sink.reset();
        throw new TransientError('server answered with an unexpected range');
      }
      total = range[3] === '*' ? undefined : Number(range[3]);
      options.log?.(`resuming ${url} at byte ${resumeFrom}`);
    } else {
      if (resumeFrom > 0) await sink.reset();
      total = Number.isFinite(length) ? length : undefined;
      validator.value = res.headers.get('etag') ?? res.headers.get('last-modified') ?? undefined;
      if (validator.value?.startsWith('W/')) validator.value = undefined; // weak ETags may not be used in If-Range
    }
    options.onProgress?.(sink.written, total);
    if (!res.body) throw new Error('the server sent no body');
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        await sink.write(value, total);
      }
    } catch (e) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      if (stall.signal.aborted) throw stall.signal.reason;
      // The connection broke in the middle of the body: worth resuming.
      throw new TransientError(`transfer interrupted after ${sink.written} bytes: ${describeError(e)}`);
    }
    if (total !== undefined && sink.written < total) {
      throw new TransientError(`connection closed after ${sink.written} of ${total} bytes`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Downloads one candidate URL into `sink`, retrying transient failures. */
async function fetchOne(url: string, sink: Sink, options: FetchUrlOptions): Promise<void> {
  if (url.startsWith('file://')) return fetchFile(url, sink, options.signal);
  if (!/^https?:\/\//.test(url)) {
    throw new Error(`unsupported URL scheme (tsdsl fetches http, https and file URLs)`);
  }
  const retries = options.retries ?? 3;
  let delay = options.retryDelayMs ?? 1000;
  const validator: { value: string | undefined } = { value: undefined };
  for (let attempt = 0; ; attempt++) {
    try {
      await httpAttempt(url, sink, validator, options);
      return;
    } catch (e) {
      if (!(e instanceof TransientError) || attempt >= retries) {
        if (e instanceof TransientError && retries > 0) throw new Error(`${e.message} (gave up after ${retries + 1} attempts)`);
        throw e;
      }
      const wait = Math.max(delay, e.retryAfterMs ?? 0);
      options.log?.(`${url}: ${e.message}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt + 2} of ${retries + 1})`);
      await sleep(wait, options.signal);
      delay *= 2;
    }
  }
}

/**
 * Downloads a file into the download cache and returns its path there, named by its sha256.
 * With a known sha256 a cached copy is returned at once; otherwise each URL (mirrors expanded) is
 * tried in order until one yields the right bytes. A file whose hash differs is deleted, never
 * cached, and the error gives both hashes in hex and nix-base32. When every URL fails, one
 * `TsdslError` lists each URL with its own failure.
 */
export async function fetchUrl(request: FetchUrlRequest, options: FetchUrlOptions = {}): Promise<FetchedFile> {
  const env = options.env ?? process.env;
  const cacheDir = options.cacheDir ?? defaultDownloadCache(env);
  const expected = request.sha256 === undefined ? undefined : normaliseSha256(request.sha256);
  if (expected) {
    const cached = join(cacheDir, expected);
    const st = await exists(cached);
    if (st) return { path: cached, sha256: expected, size: st.size, url: undefined };
  }
  makeCache(cacheDir);
  // Partial downloads of processes that were killed (kill -9 runs no clean-up).
  removeLeftoversOfDead(cacheDir, PARTIAL);

  const failures: Array<{ url: string; error: string; mismatch?: true }> = [];
  const candidates: string[] = [];
  for (const u of request.urls) {
    try {
      for (const x of resolveMirrorUrl(u, env, options.aptRoot === undefined ? {} : { aptRoot: options.aptRoot })) {
        if (!candidates.includes(x)) candidates.push(x);
      }
    } catch (e) {
      failures.push({ url: u, error: (e as Error).message });
    }
  }

  for (const url of candidates) {
    if (options.signal?.aborted) throw abortReason(options.signal);
    const tmp = join(cacheDir, `.tmp-${process.pid}-${ownerWhere()}-${randomBytes(6).toString('hex')}`);
    const handle = await fsp.open(tmp, 'w+', 0o644);
    let moved = false;
    try {
      const sink = new Sink(handle, options.onProgress);
      try {
        await fetchOne(url, sink, options);
      } catch (e) {
        if (options.signal?.aborted) throw abortReason(options.signal);
        failures.push({ url, error: describeError(e) });
        continue;
      }
      const actual = sink.hash.digest('hex');
      if (expected && actual !== expected) {
        failures.push({
          url,
          error: `hash mismatch: expected sha256 ${bothForms(expected)}, got ${bothForms(actual)}`,
          mismatch: true,
        });
        continue;
      }
      // Durable before it is visible: a crash must never leave a short file under a good name.
      await handle.datasync();
      await handle.close();
      await fsp.chmod(tmp, 0o444);
      const path = join(cacheDir, actual);
      await fsp.rename(tmp, path);
      moved = true;
      return { path, sha256: actual, size: sink.written, url };
    } finally {
      await handle.close().catch(() => undefined);
      if (!moved) await fsp.rm(tmp, { force: true });
    }
  }

  const lines = failures.map((f) => `  ${f.url}: ${f.error}`).join('\n');
  const mismatch = failures.some((f) => f.mismatch === true);
  throw hashMismatchIf(mismatch, new TsdslError(
    `could not fetch \`${request.fileName}\`: ${failures.length === 1 ? 'its only URL' : `each of its ${failures.length} URLs`} failed:\n${lines}\n` +
      (mismatch
        ? 'A hash mismatch means the file changed upstream or the pinned sha256 is wrong; if the new file is right, update the sha256 in the package.'
        : `Check the network${mirrorHint(request.urls)}.`),
  ));
}

/**
 * Marks a fetch's error as a hash mismatch (a file or checkout that is not the one pinned), so
 * that the builder can say where the sha256 is written without reading the message.
 */
function hashMismatchIf<E extends Error>(mismatch: boolean, e: E): E {
  return mismatch ? Object.assign(e, { hashMismatch: true as const }) : e;
}

/** Whether `e` is a fetch's error for content that is not the one pinned. */
export function isHashMismatch(e: unknown): boolean {
  return e instanceof Error && (e as { hashMismatch?: unknown }).hashMismatch === true;
}

/** How to add a working mirror, for the `mirror://NAME/…` URLs among `urls` (a plain URL has none). */
function mirrorHint(urls: readonly string[]): string {
  // Debian's security pool has roots of its own, tried first (see resolveMirrorUrl).
  const names = [...new Set(urls.map((u) => (u.startsWith('mirror://debian/pool/updates/') ? 'debian-security' : /^mirror:\/\/([^/]+)\//.exec(u)?.[1])).filter((n): n is string => n !== undefined))];
  if (names.length === 0) return ', and that the URL is right';
  return `, or add a working mirror (${names.map((n) => `${mirrorEnvVar(n)}=https://…`).join(', ')}: roots tried first)`;
}

// ---------------------------------------------------------------------------------------
// git

/** A commit of a git repository to check out. */
export interface FetchGitRequest {
  url: string;
  /** A full commit id, or a tag or branch (resolved when fetched, so not reproducible). */
  commit: string;
  /** Also check out submodules, recursively. */
  recursive?: boolean;
  /** Expected NAR sha256 of the checkout (hex, nix-base32 or SRI); checked when given. */
  sha256?: string | undefined;
}

/** Where and how to fetch. */
export interface FetchGitOptions {
  /** Cache directory (default `defaultDownloadCache(env)`); repositories and checkouts go in its `git/`. */
  cacheDir?: string;
  signal?: AbortSignal;
  env?: Env;
}

/** A checkout ready to be added to the store. */
export interface FetchedGit {
  /** Directory holding the checkout, without `.git`, files 0644/0755, directories 0755, mtime 1. */
  path: string;
  /** The full commit id that was checked out. */
  commit: string;
  /** sha256 of the checkout's NAR serialisation, hex. */
  sha256: string;
  /** Size of that NAR in bytes. */
  narSize: number;
}

// Settings that change what a checkout contains are pinned, whatever the user's git config says.
const GIT_CONFIG = [
  'core.autocrlf=false',
  'core.eol=lf',
  'core.symlinks=true',
  'advice.detachedHead=false',
  'filter.lfs.required=false',
  'filter.lfs.smudge=',
  'filter.lfs.process=',
];

function isLocalUrl(url: string): boolean {
  return url.startsWith('/') || url.startsWith('file://') || url.startsWith('./') || url.startsWith('../');
}

class GitError extends Error {}

function git(args: readonly string[], options: { cwd?: string; signal?: AbortSignal | undefined; env: Env; extraConfig?: readonly string[] }): Promise<string> {
  const config = [...GIT_CONFIG, ...(options.extraConfig ?? [])].flatMap((c) => ['-c', c]);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v;
  // Never wait for a password on a terminal, and keep messages in English for the error text.
  Object.assign(env, { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', GIT_ASKPASS: env.GIT_ASKPASS ?? '' });
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...config, ...args],
      { cwd: options.cwd, env, maxBuffer: 64 * 1024 * 1024, ...(options.signal ? { signal: options.signal } : {}) },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          return reject(new TsdslError('cannot fetch git sources: the `git` command is not installed; install git (e.g. `apt-get install git`)'));
        }
        if (options.signal?.aborted) return reject(abortReason(options.signal));
        const detail = String(stderr).trim().split('\n').filter(Boolean).slice(-3).join('; ');
        reject(new GitError(`git ${args[0]} failed: ${detail || err.message}`));
      },
    );
  });
}

/** Recursively removes every `.git` entry and pins permissions and times, so the tree depends on the commit alone. */
async function normaliseTree(dir: string): Promise<void> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.name === '.git') {
      await fsp.rm(p, { recursive: true, force: true });
      continue;
    }
    if (e.isSymbolicLink()) {
      await fsp.lutimes(p, 1, 1);
    } else if (e.isDirectory()) {
      await normaliseTree(p);
      await fsp.chmod(p, 0o755);
      await fsp.utimes(p, 1, 1);
    } else {
      const st = await fsp.lstat(p);
      await fsp.chmod(p, st.mode & 0o100 ? 0o755 : 0o644);
      await fsp.utimes(p, 1, 1);
    }
  }
}

function urlKey(url: string): string {
  const name = basename(url.replace(/\/+$/, '')).replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'repo';
  return `${createHash('sha256').update(url).digest('hex').slice(0, 16)}-${name}`;
}

/**
 * Checks out `commit` of a git repository into the cache (`<cacheDir>/git/checkouts/<commit>`)
 * and returns it with its NAR hash. The repository is cloned once into
 * `<cacheDir>/git/repos/` (keyed by URL) and only fetched again for commits it lacks. Uses the
 * `git` command; submodules are checked out when `recursive` is set. When `sha256` is given a
 * checkout with another NAR hash is deleted and reported with both hashes.
 */
export async function fetchGit(request: FetchGitRequest, options: FetchGitOptions = {}): Promise<FetchedGit> {
  const env = options.env ?? process.env;
  const cacheDir = options.cacheDir ?? defaultDownloadCache(env);
  const gitDir = join(cacheDir, 'git');
  const reposDir = join(gitDir, 'repos');
  const checkoutsDir = join(gitDir, 'checkouts');
  for (const d of [reposDir, checkoutsDir, join(gitDir, 'locks')]) makeCache(d);
  const expected = request.sha256 === undefined ? undefined : normaliseSha256(request.sha256);
  const key = urlKey(request.url);
  const repo = join(reposDir, `${key}.git`);
  // Git's own lock files would make a second concurrent fetch into the same repository fail.
  const locks = new LockDirectory(join(gitDir, 'locks'), (fn) => fn());
  await locks.acquire(key);
  const gitOpts = { signal: options.signal, env };
  let commit: string;
  try {
    if (!(await fsp.stat(join(repo, 'HEAD')).catch(() => undefined))) {
      await fsp.rm(repo, { recursive: true, force: true });
      await git(['init', '--quiet', '--bare', repo], gitOpts);
    }
    commit = await resolveCommit(repo, request, gitOpts);
    // Keep the commit reachable so a `git gc` in the cache never drops it.
    await git(['--git-dir', repo, 'update-ref', `refs/tsdsl/${commit}`, commit], gitOpts);
  } catch (e) {
    if (e instanceof GitError) throw new TsdslError(`cannot fetch \`${request.commit}\` from ${request.url}: ${e.message}; check the URL and that the commit, tag or branch exists`);
    throw e;
  } finally {
    locks.release(key);
  }

  const target = join(checkoutsDir, `${commit}${request.recursive ? '-recursive' : ''}`);
  const sidecar = `${target}.nar`;
  const known = await fsp.readFile(sidecar, 'utf8').catch(() => undefined);
  if (known !== undefined && (await fsp.stat(target).catch(() => undefined))) {
    const [hash, size] = known.trim().split(' ');
    if (hash && size) {
      if (expected && hash !== expected) throw gitMismatch(request, commit, expected, hash);
      return { path: target, commit, sha256: hash, narSize: Number(size) };
    }
  }

  const tmp = await fsp.mkdtemp(join(checkoutsDir, '.tmp-'));
  const work = join(tmp, 'src');
  try {
    await git(['clone', '--quiet', '--no-checkout', '--shared', repo, work], gitOpts);
    // Relative submodule URLs are relative to the real origin, not to our cache.
    await git(['-C', work, 'remote', 'set-url', 'origin', request.url], gitOpts);
    await git(['-C', work, 'checkout', '--quiet', commit], gitOpts);
    if (request.recursive) {
      // Git refuses local submodule URLs unless told to (CVE-2022-39253); allow them only for a local repository.
      await git(['-C', work, 'submodule', 'update', '--init', '--recursive', '--quiet'], {
        ...gitOpts,
        extraConfig: isLocalUrl(request.url) ? ['protocol.file.allow=always'] : [],
      });
    }
    await normaliseTree(work);
    await fsp.chmod(work, 0o755);
    await fsp.utimes(work, 1, 1);
    const { hash, size } = await narHash(work);
    const actual = hash.toString('hex');
    if (expected && actual !== expected) throw gitMismatch(request, commit, expected, actual);
    await fsp.rm(target, { recursive: true, force: true });
    await fsp.rename(work, target);
    await fsp.writeFile(sidecar, `${actual} ${size}\n`);
    return { path: target, commit, sha256: actual, narSize: size };
  } catch (e) {
    if (e instanceof GitError) throw new TsdslError(`cannot check out ${commit} of ${request.url}: ${e.message}`);
    throw e;
  } finally {
    // After a successful rename `tmp` is empty; after a failure it holds the partial checkout.
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

function gitMismatch(request: FetchGitRequest, commit: string, expected: string, actual: string): TsdslError {
  return hashMismatchIf(true, new TsdslError(
    `hash mismatch for commit ${commit} of ${request.url}${request.recursive ? ' (with submodules)' : ''}: ` +
      `expected NAR sha256 ${bothForms(expected)}, got ${bothForms(actual)}; if the checkout is right, update the sha256 in the package`,
  ));
}

/** Finds the full id of `request.commit` in the cached repository, fetching from the remote when needed. */
async function resolveCommit(repo: string, request: FetchGitRequest, gitOpts: { signal: AbortSignal | undefined; env: Env }): Promise<string> {
  const rev = async (what: string): Promise<string | undefined> => {
    try {
      return (await git(['--git-dir', repo, 'rev-parse', '--verify', '--quiet', `${what}^{commit}`], gitOpts)).trim();
    } catch {
      return undefined;
    }
  };
  const isFullId = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(request.commit);
  if (isFullId) {
    const have = await rev(request.commit);
    if (have) return have;
  }
  // Fetch just what was asked for: a branch or tag name, or a commit id (servers allow reachable
  // ids with protocol v2). FETCH_HEAD then names it.
  try {
    await git(['--git-dir', repo, 'fetch', '--quiet', request.url, request.commit], gitOpts);
    const fetched = await rev('FETCH_HEAD');
    if (fetched && (!isFullId || fetched === request.commit)) return fetched;
  } catch (e) {
    if (!(e instanceof GitError)) throw e;
  }
  // Fall back to all branches and tags (abbreviated ids, servers that refuse ids).
  await git(['--git-dir', repo, 'fetch', '--quiet', '--force', request.url, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'], gitOpts);
  const found = await rev(request.commit);
  if (!found) {
    throw new GitError(`\`${request.commit}\` is not a commit, branch or tag of the repository`);
  }
  return found;
}
