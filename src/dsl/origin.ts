/**
 * Origins: where a package's source comes from. `url()` names a tarball by URLs (upstream first,
 * mirrors after, `mirror://NAME/…` resolved at fetch time) and its sha256; `git()` a commit of a
 * repository; `local()` a file or directory on this machine. Declaring an origin does no I/O; the
 * lowering stage turns it into a fixed-output derivation (url, git) or a store item (local).
 */
import { isAbsolute, resolve } from 'node:path';
import { parseHash, storeNameSpelling, validateStoreName } from '../derivation/hash.js';
import { TsdslError, didYouMean } from '../errors.js';
import { captureLocation, directoryOf, formatLocation, resolveLocation, type CapturedLocation, type Location } from './location.js';

export const ORIGIN_BRAND: unique symbol = Symbol.for('tsdsl.origin') as never;

/** A patch: a file on this machine (absolute path) or a fetched one. */
export type Patch = string | UrlOrigin;

interface OriginCommon {
  readonly [ORIGIN_BRAND]: true;
  /** Patches applied in order after unpacking. */
  readonly patches: readonly Patch[];
  /** Flags for `patch` (default `-p1`). */
  readonly patchFlags: readonly string[];
  /** A shell snippet run in the unpacked tree after the patches (e.g. to delete bundled code). */
  readonly snippet: string | undefined;
  /** Where the origin was declared. */
  readonly location: Location | undefined;
}

/** A tarball (or single file) fetched from the first URL that answers, checked against sha256. */
export interface UrlOrigin extends OriginCommon {
  readonly kind: 'url';
  readonly urls: readonly string[];
  /**
   * sha256 of the file, lower-case hex (normalised from hex, nix-base32 or SRI). Undefined only
   * for sources given on the command line (`--with-source=URL`): fetched and hashed when
   * lowered, and then not cacheable.
   */
  readonly sha256: string | undefined;
  /** The file name in the store; defaults to the last component of the first URL. */
  readonly fileName: string;
}

/** A URL whose hash is not known in advance (`--with-source=URL`); hashed when fetched. */
export function unpinnedUrl(urls: string | readonly string[], fileName?: string): UrlOrigin {
  const loc = captureLocation(unpinnedUrl);
  const list = typeof urls === 'string' ? [urls] : [...urls];
  const problems: string[] = [];
  for (const u of list) checkUrl(u, problems);
  const name = fileName ?? decodeURIComponent(String(list[0] ?? '').replace(/[?#].*$/, '').split('/').pop() ?? '');
  if (!name) problems.push('cannot infer a file name from the URL');
  else checkFileName(name, fileName !== undefined, problems);
  if (problems.length) fail('url', loc, problems);
  return withLocation({ ...commonFields({}, loc, problems), kind: 'url' as const, urls: Object.freeze(list), sha256: undefined, fileName: name } as UrlOrigin, loc);
}

/** A git commit (or branch/tag resolved at fetch time when `commit` is not a full hash). */
export interface GitOrigin extends OriginCommon {
  readonly kind: 'git';
  readonly url: string;
  /** A commit id, or a ref (tag or branch) that the fetcher resolves. */
  readonly commit: string;
  /** sha256 of the checkout's NAR serialisation, hex; undefined when not pinned (not cacheable). */
  readonly sha256: string | undefined;
  readonly recursive: boolean;
}

/** A file or directory on this machine, hashed when lowered. */
export interface LocalOrigin extends OriginCommon {
  readonly kind: 'local';
  readonly path: string;
}

export type Origin = UrlOrigin | GitOrigin | LocalOrigin;

/** True for any origin made by `url`, `git` or `local` (from any loaded copy of tsdsl). */
export function isOrigin(x: unknown): x is Origin {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[ORIGIN_BRAND] === true;
}

interface CommonSpec {
  patches?: readonly (string | UrlOrigin)[];
  patchFlags?: readonly string[];
  snippet?: string;
}

/** Arguments of `url()`. */
export interface UrlSpec extends CommonSpec {
  /** One URL or a list tried in order; `mirror://gnu/…`, `mirror://debian/…` are allowed. */
  urls: string | readonly string[];
  /** sha256 in hex (64), nix-base32 (52), base64/SRI (`sha256-…`). */
  sha256: string;
  fileName?: string;
}

/** Arguments of `git()`. */
export interface GitSpec extends CommonSpec {
  url: string;
  commit: string;
  sha256?: string;
  recursive?: boolean;
}

/** Mirror names that `mirror://NAME/…` may use; resolved to URLs by the fetcher. */
export const KNOWN_MIRRORS: readonly string[] = ['debian', 'gnu', 'sourceforge', 'savannah', 'kernel', 'cpan', 'apache', 'xorg'];

function fail(kind: string, loc: CapturedLocation, problems: string[]): never {
  const where = formatLocation(resolveLocation(loc));
  throw new TsdslError(
    problems.length === 1
      ? `${kind} origin at ${where}: ${problems[0]}`
      : `${kind} origin at ${where} has ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
  );
}

function checkUrl(u: unknown, problems: string[]): void {
  if (typeof u !== 'string' || u.length === 0) {
    problems.push(`URL ${JSON.stringify(u)} is not a non-empty string`);
    return;
  }
  const m = /^mirror:\/\/([^/]+)\/./.exec(u);
  if (u.startsWith('mirror://')) {
    if (!m) problems.push(`mirror URL \`${u}\` must look like mirror://NAME/path`);
    else if (!KNOWN_MIRRORS.includes(m[1]!)) problems.push(`unknown mirror \`${m[1]}\` in \`${u}\`${didYouMean(m[1]!, KNOWN_MIRRORS)} (the mirrors: ${KNOWN_MIRRORS.join(', ')}; or give the full https:// URL)`);
    return;
  }
  // FTP is let through here (see urlList), and only there.
  if (!/^(https?|ftp|file):\/\/./.test(u)) problems.push(`URL \`${u}\` must start with https://, http://, file:// or mirror://`);
}

function normaliseSha256(text: unknown, problems: string[]): string {
  if (typeof text !== 'string') {
    problems.push(`sha256 must be a string (hex, nix-base32 or SRI), not ${text === undefined ? 'missing' : typeof text}`);
    return '';
  }
  try {
    return parseHash(text, 'sha256').digest.toString('hex');
  } catch (e) {
    // What to do about it: the file's digest is one command away.
    problems.push(`${(e as Error).message}; \`tsdsl hash FILE\` (or \`sha256sum FILE\`) prints the sha256 of the downloaded file`);
    return '';
  }
}

const COMMON_KEYS = ['patches', 'patchFlags', 'snippet'] as const;
const URL_KEYS: readonly string[] = ['urls', 'sha256', 'fileName', ...COMMON_KEYS];
const GIT_KEYS: readonly string[] = ['url', 'commit', 'sha256', 'recursive', ...COMMON_KEYS];
const LOCAL_KEYS: readonly string[] = ['base', ...COMMON_KEYS];

/**
 * Fields an origin's spec does not know (`url: …` given to url(), whose field is `urls`), each
 * with the closest known names: a misspelt field would otherwise be dropped without a word.
 */
function checkKeys(kind: string, spec: unknown, known: readonly string[], example: string, loc: CapturedLocation, problems: string[]): void {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    const what = spec === null ? 'null' : Array.isArray(spec) ? 'an array' : typeof spec === 'string' ? `the string ${JSON.stringify(spec)}` : typeof spec;
    fail(kind, loc, [`${kind}() takes one object such as ${example}, not ${what}`]);
  }
  for (const k of Object.keys(spec)) {
    if (!known.includes(k)) problems.push(`unknown field \`${k}\`${didYouMean(k, known) || ` (${kind}() takes: ${known.join(', ')})`}`);
  }
}

function commonFields(spec: CommonSpec, loc: CapturedLocation, problems: string[]) {
  // Resolving the caller's file costs V8 a scan of the module, so only a relative patch pays it.
  let base: string | undefined | null = null;
  const patches: Patch[] = [];
  if (spec.patches !== undefined && !Array.isArray(spec.patches)) problems.push('patches must be a list of file names and url() origins, such as [\'./fix.patch\']');
  if (spec.patchFlags !== undefined && (!Array.isArray(spec.patchFlags) || spec.patchFlags.some((f) => typeof f !== 'string')))
    problems.push("patchFlags must be a list of strings, such as ['-p0']");
  for (const p of Array.isArray(spec.patches) ? spec.patches : []) {
    if (typeof p === 'string') {
      if (!isAbsolute(p) && base === null) base = directoryOf(loc);
      patches.push(base && !isAbsolute(p) ? resolve(base, p) : p);
    }
    else if (isOrigin(p) && p.kind === 'url') patches.push(p);
    else problems.push(`patch ${JSON.stringify(p)} is neither a file name nor a url() origin`);
  }
  if (spec.snippet !== undefined && typeof spec.snippet !== 'string') problems.push('snippet must be a shell script string');
  return {
    [ORIGIN_BRAND]: true as const,
    patches: Object.freeze(patches),
    patchFlags: Object.freeze(Array.isArray(spec.patchFlags) ? [...spec.patchFlags] : ['-p1']),
    snippet: spec.snippet,
  };
}

function withLocation<T extends object>(o: T, loc: CapturedLocation): T {
  let cached: Location | undefined | null = null;
  Object.defineProperty(o, 'location', {
    enumerable: true,
    get: () => (cached === null ? (cached = resolveLocation(loc)) : cached),
  });
  return Object.freeze(o);
}

/** A url() origin's URLs (one, or a list tried in order) as a list, each checked. */
function urlList(urls: unknown, problems: string[]): string[] {
  const iterable = typeof urls === 'object' && urls !== null && typeof (urls as Iterable<unknown>)[Symbol.iterator] === 'function';
  const list = typeof urls === 'string' ? [urls] : iterable ? [...(urls as Iterable<string>)] : [];
  if (list.length === 0) problems.push('no URL given');
  for (const u of list) checkUrl(u, problems);
  // The fetcher speaks HTTP(S) and file only: an ftp:// URL among others is passed over (lint
  // says so), but one with no other is refused here, not at the download long after.
  const ftp = list.filter((u) => typeof u === 'string' && /^ftp:\/\//i.test(u));
  if (ftp.length && ftp.length === list.length) {
    problems.push(`URL \`${ftp[0]}\`: tsdsl fetches https://, http:// and file:// URLs, not FTP; give the https:// URL of the same file (most FTP servers serve their files over HTTPS too, e.g. https://${ftp[0]!.slice(6)})`);
  }
  return list;
}

/** The checks of a git() origin's repository URL and commit. */
function checkGitRef(url: unknown, commit: unknown, problems: string[]): void {
  if (typeof url !== 'string' || !url) problems.push('git origin needs a url');
  if (typeof commit !== 'string' || !commit) problems.push('git origin needs a commit (a commit id, tag or branch)');
}

/** A local() origin's path, checked; a relative one taken relative to `base()`. */
function localPath(path: unknown, base: () => string, problems: string[]): string {
  if (typeof path !== 'string' || !path) {
    problems.push('local origin needs a path');
    return '';
  }
  return isAbsolute(path) ? path : resolve(base(), path);
}

/**
 * The fetched file's name is its store path's name: one a store path cannot hold (a space, `%20`
 * decoded) is said here, where the URL is written, with a name to set instead.
 */
function checkFileName(fileName: string, given: boolean, problems: string[]): void {
  if (typeof fileName !== 'string' || validateStoreName(fileName) === undefined) return;
  const fixed = storeNameSpelling(fileName);
  const advice = fixed && validateStoreName(fixed) === undefined ? `${given ? 'write' : 'set'} \`fileName: '${fixed}'\`` : `${given ? 'write' : 'set'} fileName to a name of letters, digits and + - . _`;
  const what = given ? `fileName ${JSON.stringify(fileName)}` : `the file name taken from the first URL, ${JSON.stringify(fileName)},`;
  problems.push(`${what} cannot name a store path (letters, digits and + - . _ ? = only); ${advice}`);
}

/** A source tarball fetched by URL and checked against its sha256. */
export function url(spec: UrlSpec): UrlOrigin {
  const loc = captureLocation(url);
  const problems: string[] = [];
  checkKeys('url', spec, URL_KEYS, "{ urls: 'https://…/x-1.0.tar.gz', sha256: '…' }", loc, problems);
  const urls = urlList(spec.urls, problems);
  // As in Guix, a URL source is pinned: say how to find the value rather than only that it is missing.
  const sha256 =
    spec.sha256 === undefined
      ? (problems.push('sha256 is missing: a url() source is pinned by the sha256 of its file; download the file and run `tsdsl hash FILE`, or try it unpinned once with `--with-source=PACKAGE=URL`, which prints the sha256 it finds'), '')
      : normaliseSha256(spec.sha256, problems);
  const fileName = spec.fileName ?? (urls[0] ? decodeURIComponent(String(urls[0]).replace(/[?#].*$/, '').split('/').pop() ?? '') : '');
  if (!fileName && urls.length) problems.push('cannot infer a file name from the first URL; set fileName');
  else if (fileName) checkFileName(fileName, spec.fileName !== undefined, problems);
  const common = commonFields(spec, loc, problems);
  if (problems.length) fail('url', loc, problems);
  return withLocation({ ...common, kind: 'url' as const, urls: Object.freeze(urls), sha256, fileName } as UrlOrigin, loc);
}

/** A git checkout of `commit` (a full commit id pins it; a tag or branch is resolved when fetched). */
export function git(spec: GitSpec): GitOrigin {
  const loc = captureLocation(git);
  const problems: string[] = [];
  checkKeys('git', spec, GIT_KEYS, "{ url: 'https://…/x.git', commit: 'v1.0', sha256: '…' }", loc, problems);
  checkGitRef(spec.url, spec.commit, problems);
  const sha256 = spec.sha256 === undefined ? undefined : normaliseSha256(spec.sha256, problems);
  const common = commonFields(spec, loc, problems);
  if (problems.length) fail('git', loc, problems);
  return withLocation(
    { ...common, kind: 'git' as const, url: spec.url, commit: spec.commit, sha256, recursive: spec.recursive ?? false } as GitOrigin,
    loc,
  );
}

/**
 * A file or directory on this machine. A relative path is taken relative to the module that
 * calls `local()` (so `local('./patches/x.patch')` works from any package file), or to `base`.
 */
export function local(path: string, options: CommonSpec & { base?: string } = {}): LocalOrigin {
  const loc = captureLocation(local);
  const problems: string[] = [];
  checkKeys('local', options, LOCAL_KEYS, "local('./x-1.0.tar.gz', { patches: ['./fix.patch'] })", loc, problems);
  const full = localPath(path, () => options.base ?? directoryOf(loc) ?? process.cwd(), problems);
  const common = commonFields(options, loc, problems);
  if (problems.length) fail('local', loc, problems);
  return withLocation({ ...common, kind: 'local' as const, path: full } as LocalOrigin, loc);
}

/**
 * A copy of `origin` with other fields (patches, snippet, …), keeping its kind and location.
 * The changed fields are checked as `url()`, `git()` and `local()` check theirs (a relative
 * patch or path is taken relative to the module that calls `withOrigin`).
 */
export function withOrigin<O extends Origin>(origin: O, changes: Partial<Omit<O, 'kind' | typeof ORIGIN_BRAND | 'location'>>): O {
  const loc = captureLocation(withOrigin);
  if (!isOrigin(origin)) fail('withOrigin', loc, [`the first argument is ${origin === null ? 'null' : typeof origin}, not an origin made by url(), git() or local()`]);
  const kind = origin.kind;
  const problems: string[] = [];
  const known = kind === 'url' ? URL_KEYS : kind === 'git' ? GIT_KEYS : ['path', ...COMMON_KEYS];
  checkKeys(kind, changes, known, "{ patches: [...origin.patches, './fix.patch'] }", loc, problems);
  const c = changes as Record<string, unknown>;
  const copy: Record<string | symbol, unknown> = { ...origin, ...changes };
  delete copy['location'];
  Object.assign(copy, commonFields({ patches: copy['patches'], patchFlags: copy['patchFlags'], snippet: copy['snippet'] } as CommonSpec, loc, problems));
  if (kind !== 'local' && c['sha256'] !== undefined) copy['sha256'] = normaliseSha256(c['sha256'], problems);
  // The origin's own fields were checked when it was made: the changed ones are checked here.
  if (kind === 'url' && 'urls' in c) copy['urls'] = Object.freeze(urlList(c['urls'], problems));
  if (kind === 'url' && 'fileName' in c && (typeof c['fileName'] !== 'string' || !c['fileName'])) problems.push('fileName must be a non-empty string');
  if (kind === 'git') checkGitRef(copy['url'], copy['commit'], problems);
  if (kind === 'git' && 'recursive' in c && typeof c['recursive'] !== 'boolean') problems.push('recursive must be true or false');
  if (kind === 'local' && 'path' in c) copy['path'] = localPath(c['path'], () => directoryOf(loc) ?? process.cwd(), problems);
  if (problems.length) fail(kind, loc, problems);
  return withLocation(copy as unknown as O, origin.location ?? loc);
}
