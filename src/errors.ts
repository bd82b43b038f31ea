/**
 * Errors that reach users. Every failure tsdsl reports on purpose is a `TsdslError`: one
 * paragraph naming the culprit (package, file:line, flag) and, where there is one, the way out.
 * The CLI prints the message alone and exits non-zero; any other exception is a bug and is
 * printed with its stack.
 */

import { dirname } from 'node:path';
import { compareNames } from './compare.js';
import { signalExitCode } from './signals.js';

/** A user-facing error: `message` is the whole paragraph the CLI prints. */
export class TsdslError extends Error {
  /**
   * Process exit code the CLI uses for this error; undefined: 1, or 2 for a command whose exit 1
   * is a result (lint's findings, search's no match).
   */
  readonly exitCode: number | undefined;

  constructor(message: string, options: { cause?: unknown; exitCode?: number | undefined } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TsdslError';
    this.exitCode = options.exitCode;
  }
}

/** Brand check that works across several loaded copies of tsdsl. */
export function isTsdslError(x: unknown): x is TsdslError {
  return x instanceof Error && (x.name === 'TsdslError' || x instanceof TsdslError);
}

/** Levenshtein distance, used to suggest close names for misspelt packages, flags and types. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const m = a.length;
  const n = b.length;
  let prev = new Array<number>(n + 1);
  let cur = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[n]!;
}

/**
 * The candidates closest to `wanted`, best first: those within a distance that grows with the
 * word's length, plus any that contain it or that it contains (so `mump` finds `mumps` and
 * `mumps-openmpi`).
 */
export function closest(wanted: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  const scored: Array<[string, number]> = [];
  // Case is compared apart: `MUMPS` finds `mumps`, after any candidate of the same case.
  const w = wanted.toLowerCase();
  for (const c of candidates) {
    const lc = c.toLowerCase();
    let d = editDistance(w, lc);
    if (d === 0 && c !== wanted) d = 0.5;
    // Two neighbouring letters swapped (`gls` for `gsl`, `hwlco`) is the commonest slip: closer
    // than one letter changed, which a short name shares with many others (`gjs`, `gle`, `glm`).
    else if (d === 2 && swapsTwoNeighbours(w, lc)) d = 0.9;
    // Containment, either way (`mump` in `mumps`, `hwloc` in `hwloc2`); a short candidate found
    // inside a long word (`ack` in `nosuchpackagexyz`) says nothing.
    if (d > limit && (lc.includes(w) || (w.includes(lc) && c.length > 2 && 2 * c.length >= w.length))) d = limit;
    // Two edits leave a word of three letters one in common (`foo` and `dot`): for those, only
    // two letters swapped (`mip` for `mpi`), or the word inside the candidate, is as close.
    if (d >= 2 && w.length <= 3 && !lc.includes(w) && [...w].sort().join('') !== [...lc].sort().join('')) continue;
    if (d <= limit) scored.push([c, d]);
  }
  scored.sort((x, y) => x[1] - y[1] || compareNames(x[0], y[0]));
  return [...new Set(scored.map(([c]) => c))].slice(0, max);
}

/** Whether `b` is `a` with two neighbouring (different) letters swapped. */
function swapsTwoNeighbours(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const i = [...a].findIndex((ch, k) => ch !== b[k]);
  return i >= 0 && i + 1 < a.length && a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
}

/** "; did you mean `a` or `b`?" or the empty string; `show` writes a candidate as the user would (`${a}`). */
export function didYouMean(wanted: string, candidates: Iterable<string>, show: (c: string) => string = (c) => c): string {
  const close = closest(wanted, candidates);
  if (close.length === 0) return '';
  return `; did you mean ${close.map((c) => `\`${show(c)}\``).join(close.length === 2 ? ' or ' : ', ')}?`;
}

/** Refuses an argument that is not an array of strings (a string alone would be read one character at a time). */
export function checkStringList(v: unknown, who: string, what: string): asserts v is readonly string[] {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return;
  throw new TsdslError(`${who} takes an array of ${what}${typeof v === 'string' ? `, not a string: wrap it, ['${v}']` : `, not ${shown(v)}`}`);
}

/**
 * Refuses keys of an API request that it does not know (`symlink:` for `symlinks:`), which would
 * otherwise be dropped without a word; `known` lists every key of the request's type.
 */
export function checkRequestKeys(request: object, known: readonly string[], who: string): void {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new TsdslError(`${who} takes one object of fields (${known.join(', ')}), not ${request === undefined ? 'nothing' : shown(request)}`);
  }
  for (const k of Object.keys(request)) {
    if (!known.includes(k)) throw new TsdslError(`${who}: unknown field \`${k}\`${didYouMean(k, known)} (the fields: ${known.join(', ')})`);
  }
}

/** A check of one request field: a test and what it expects, said as "must be …". */
export type FieldCheck = readonly [test: (value: unknown) => boolean, expected: string];

/** Field checks shared by the API's requests. */
export const fieldChecks = {
  text: [(v) => typeof v === 'string' && v !== '', 'a non-empty string'],
  boolean: [(v) => typeof v === 'boolean', 'true or false'],
  count: [(v) => Number.isInteger(v) && (v as number) >= 1, 'a whole number of at least 1'],
  texts: [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), 'an array of strings'],
  command: [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string') && (v.length === 0 || v[0] !== ''), "an array of strings, the program first (['hwloc-info', '--version'])"],
  textRecord: [
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string'),
    'an object of strings',
  ],
  function: [(v) => typeof v === 'function', 'a function'],
  signal: [(v) => v instanceof AbortSignal, 'an AbortSignal (new AbortController().signal)'],
  // By shape: a collection of another loaded copy of tsdsl is one too.
  collection: [(v) => typeof v === 'object' && v !== null && typeof (v as { resolve?: unknown }).resolve === 'function', 'a collection (loadCollection(), or getDefaultCollection())'],
} satisfies Record<string, FieldCheck>;

/**
 * Set on a request by the command line. The checks' errors name the command-line flags
 * (`-S /proc=proc: …`); without this mark, pack() and run() add which request field each flag is.
 */
export const FROM_COMMAND_LINE: unique symbol = Symbol('tsdsl from the command line');

/**
 * An error of an API function's checks, for a caller of the API (a request without
 * FROM_COMMAND_LINE): the same message, followed by the request fields its flags stand for, when
 * the message is about the options (`about`); any other error as it is.
 */
export function withRequestFields(e: unknown, request: unknown, who: string, about: RegExp, fieldsOfFlags: ReadonlyArray<readonly [RegExp, string]>): unknown {
  if (!isTsdslError(e) || (request as { [FROM_COMMAND_LINE]?: true } | undefined)?.[FROM_COMMAND_LINE]) return e;
  const fields = about.test(e.message) ? fieldsOfFlags.filter(([re]) => re.test(e.message)).map(([, said]) => said) : [];
  if (fields.length === 0) return e;
  return new TsdslError(`${e.message} (in ${who}'s request, ${fields.join(', ')})`, { cause: e, exitCode: e.exitCode });
}

const UNDEFINED = '@@tsdsl-undefined@@';

/** Says a value in an error: short JSON for data, the kind of anything else. */
export function shown(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol' || typeof v === 'bigint') return String(v);
  try {
    // `[undefined]` as written, not as JSON's `[null]`.
    const text = JSON.stringify(v, (_, x: unknown) => (x === undefined ? UNDEFINED : x))?.replaceAll(`"${UNDEFINED}"`, 'undefined');
    if (text === undefined) return String(v);
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
  } catch {
    return 'an object';
  }
}

/**
 * Checks the types of an API request's fields before anything is done: a field given with the
 * wrong type is one error naming it, what it must be and what it was (not a TypeError from
 * deep inside, nor a value silently taken for another).
 */
export function checkRequestTypes(request: object, checks: Readonly<Record<string, FieldCheck>>, who: string): void {
  for (const [k, [test, expected]] of Object.entries(checks)) {
    const v = (request as Record<string, unknown>)[k];
    if (v !== undefined && !test(v)) throw new TsdslError(`${who}: \`${k}\` must be ${expected}, not ${shown(v)}`);
  }
}

/**
 * The line of a tool's error output that says what went wrong: a `fatal:` or `error:` line, or
 * one that names a known cause (git's "does not appear to be a git repository", gpgv's "BAD
 * signature", gzip's "not in gzip format"); else the last line that is not a generic epilogue
 * ("Error is not recoverable: exiting now", "…and the repository exists."). `fallback` when
 * there is no output.
 */
export function causeOf(stderr: string | undefined, fallback: string): string {
  const lines = (stderr ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = /^(fatal|error): |BAD signature|Can't check signature|no valid OpenPGP|not in gzip format|does not look like a tar archive|does not appear to be a git repository|not found|No such file|Permission denied|Operation not permitted|No space left on device|Disk quota exceeded/i;
  const generic = /Error is not recoverable|Exiting with failure status|Child returned status|Could not read from remote repository|Please make sure you have the correct access rights|and the repository exists/;
  return lines.find((l) => telling.test(l) && !generic.test(l)) ?? [...lines].reverse().find((l) => !generic.test(l)) ?? lines[lines.length - 1] ?? fallback;
}

/**
 * Where the library's warnings go when its caller gives no handler (`onWarning`, `warn`): stderr,
 * one line each, as the CLI prints them. Dropping them silently would hide what the CLI says.
 */
export function warnOnStderr(text: string): void {
  process.stderr.write(`tsdsl: warning: ${text}\n`);
}

/** Whether `e` says the file system (or the user's quota) is full. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  // SQLite cannot size its shared-memory file on a full disk: IOERR_SHMSIZE is that symptom.
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE';
}

/**
 * A failure of the machine rather than of tsdsl — a full disk, a damaged or locked database —
 * as one paragraph with the way out, or undefined for anything else. The CLI says these as
 * errors, not as internal errors to report; `database` names the store's database file, and
 * `command` the tsdsl command that failed (`gc` cannot be the way out of a disk too full for it).
 */
export function systemFailure(e: unknown, database?: string, command?: string): TsdslError | undefined {
  const err = (e ?? {}) as { code?: unknown; message?: unknown; path?: unknown; dest?: unknown };
  // A copy's error names its source as `path` and what it was writing as `dest`.
  const written = typeof err.dest === 'string' ? err.dest : typeof err.path === 'string' ? err.path : undefined;
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : String(e);
  const db = database ? `the store database ${database}` : 'the store database';
  if (isDiskFull(e)) {
    const what = written !== undefined ? ` (writing ${written})` : code.startsWith('SQLITE_') ? ` (writing ${db})` : '';
    return new TsdslError(
      `the file system is full${what}: ${code === 'EDQUOT' ? 'your disk quota is used up' : 'no space is left'}. ${
        // A store made when the disk was already full has no reserve for gc to free first.
        command === 'gc'
          ? 'gc needs a little room to start: delete or move some files outside the store, then run `tsdsl gc` again'
          : 'Free some space and try again: `tsdsl gc` deletes the store items no root needs, `tsdsl gc --packs` the packs `tsdsl run` unpacked'
      }`,
      { cause: e },
    );
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new TsdslError(
      // Not sqlite3's .recover or .dump: Debian's sqlite3 fails .recover on every database,
      // and a partly read database can list an item without all its references, whose
      // closure the next gc would then break.
      `${db} is damaged (${message}). Restore it from a backup (then \`tsdsl verify\` checks it against the store's files); without one, move the store (${database ? dirname(dirname(database)) : 'TSDSL_ROOT'}) away and build again: downloads are cached, so only the builds are repeated`,
      { cause: e },
    );
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new TsdslError(
      `${db} stayed locked for a minute by another process: a tsdsl writing to it (a \`tsdsl gc\` stopped with Ctrl-Z holds it), or a sqlite3 with a transaction open. Let it finish, or stop it, and try again`,
      { cause: e },
    );
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new TsdslError(`reading or writing ${db} failed (${message}, ${code}): the disk may be full or failing; check it (\`df\`), then try again`, { cause: e });
  }
  if (code === 'EROFS') {
    return new TsdslError(
      `the file system is read-only${written !== undefined ? ` (writing ${written})` : ''}; point the setting for that directory at a writable one: TSDSL_ROOT for the store, TSDSL_DOWNLOAD_CACHE for downloads, TSDSL_PACK_CACHE for unpacked packs, TMPDIR for temporary files`,
      { cause: e },
    );
  }
  return undefined;
}

/** What work stopped by a signal (Ctrl-C, `kill`, an `AbortSignal`) reports; the exit status is 128 + the signal's number (130 without one). */
export function interruptedError(signal?: NodeJS.Signals): TsdslError {
  return new TsdslError(`interrupted${signal && signal !== 'SIGINT' ? ` (${signal})` : ''}; what was built so far stays in the store`, { exitCode: signalExitCode(signal, 2) });
}

/** The current directory, or a clear error when it was deleted (Node's own is `ENOENT uv_cwd`, deep inside). */
export function currentDirectory(): string {
  try {
    return process.cwd();
  } catch {
    throw new TsdslError('the current directory no longer exists (it was deleted after you went there); cd to an existing directory and run tsdsl again');
  }
}
