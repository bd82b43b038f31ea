/**
 * The package index: which package names each user package file (-L, TSDSL_PACKAGE_PATH)
 * defines, kept between commands, as Guix keeps its package cache. A command that names a few
 * packages then imports only the files that define them (and, through their imports, what they
 * use), not every file of a lab's collection: each file costs Node several milliseconds to
 * resolve, strip and link (a 300-file directory took 4 s a command, a 3,000-file one 10–20 s).
 *
 * The index is a cache, never a source of truth. It holds the modification and change times,
 * size and inode of everything the answer depends on: every directory walked (a file added, removed or renamed
 * changes its directory's), every file that may be a package file and every file they import by
 * a relative specifier, wherever it is (and the directories they are looked for in, where a
 * module added may be taken instead); and tsdsl's own build. One that differs in anything is
 * not used, and the next full load writes it again. A load with a failure writes none, and one
 * within two seconds of a change to a file it read writes none either (a second change in the
 * same tick of a coarse clock would go unseen, as git's "racy" index entries). What it cannot
 * see: a package file whose packages, or whether it loads, depend on something else than those
 * files (an environment variable, a module from node_modules, a file it reads, an import by an
 * absolute path, the clock).
 *
 * Kept in `$XDG_CACHE_HOME/tsdsl/package-index` (else `~/.cache/…`), one file per list of
 * directories, the 64 most recently written kept. Nothing here is ever an error: a cache that
 * cannot be read or written is a full load.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * A package file, the names of the packages it exports, in loading order, and how many it
 * exports: imported alone, a file must give the same, or the index is not used (an array
 * another file pushes packages into gives fewer).
 */
export interface IndexedFile {
  file: string;
  names: string[];
  count: number;
}

interface IndexData {
  format: number;
  tsdsl: string;
  dirs: string[];
  /** Path → `mtime:ctime:size:inode` (nanoseconds), for every path the index depends on. */
  stats: Record<string, string>;
  files: IndexedFile[];
}

const FORMAT = 2;
const KEEP = 64;
/** A path changed less than this before the load began may change again unseen (FAT's mtime ticks in 2 s). */
const RACY_MS = 2000;

type Env = Readonly<Record<string, string | undefined>>;

function indexDir(env: Env): string {
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg && xdg.startsWith('/')) return join(xdg, 'tsdsl', 'package-index');
  return join(env['HOME'] || homedir(), '.cache', 'tsdsl', 'package-index');
}

function indexFile(dirs: readonly string[], env: Env): string {
  return join(indexDir(env), `${createHash('sha256').update(JSON.stringify(dirs)).digest('hex').slice(0, 32)}.json`);
}

/**
 * `mtime:ctime:size:inode` of a path (links followed), or undefined when it is gone. The ctime
 * too, as git's index has it: a package file that could not be read (and so was no package
 * file) made readable by chmod, or a file whose mtime was put back (`touch -r`, `cp -p` over it),
 * changes nothing else.
 */
function fingerprint(path: string): { text: string; mtimeMs: number } | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return { text: `${st.mtimeNs}:${st.ctimeNs}:${st.size}:${st.ino}`, mtimeMs: Number(st.mtimeNs / 1_000_000n) };
  } catch {
    return undefined;
  }
}

/**
 * tsdsl's own build: the DSL and the default collection decide what a package file defines
 * (`inherit(hwloc, …)` keeps hwloc's name), so a rebuilt tsdsl does not trust an older index.
 */
export function tsdslIdentity(modules: readonly string[]): string {
  return modules.map((m) => fingerprint(m)?.text ?? '-').join(' ');
}

/** The index for `dirs` when everything it depends on is as it was when written; else undefined. */
export function readIndex(dirs: readonly string[], tsdsl: string, env: Env): IndexedFile[] | undefined {
  let data: IndexData;
  try {
    data = JSON.parse(readFileSync(indexFile(dirs, env), 'utf8')) as IndexData;
  } catch {
    return undefined;
  }
  if (data?.format !== FORMAT || data.tsdsl !== tsdsl || JSON.stringify(data.dirs) !== JSON.stringify(dirs) || !Array.isArray(data.files)) return undefined;
  // A file damaged or edited by hand is no index either, never an error.
  if (typeof data.stats !== 'object' || data.stats === null) return undefined;
  if (!data.files.every((f) => typeof f?.file === 'string' && typeof f.count === 'number' && Array.isArray(f.names) && f.names.every((n) => typeof n === 'string'))) return undefined;
  for (const [path, text] of Object.entries(data.stats)) if (fingerprint(path)?.text !== text) return undefined;
  return data.files;
}

/**
 * Write the index of a full load that began at `startedMs`: `files` as loaded, `watched` the
 * paths the answer depends on. Not written when one of them changed within RACY_MS of the start
 * (or after it), or is gone.
 */
export function writeIndex(dirs: readonly string[], tsdsl: string, env: Env, files: readonly IndexedFile[], watched: Iterable<string>, startedMs: number): void {
  const stats: Record<string, string> = {};
  for (const path of watched) {
    const f = fingerprint(path);
    if (!f || f.mtimeMs > startedMs - RACY_MS) return;
    stats[path] = f.text;
  }
  const data: IndexData = { format: FORMAT, tsdsl, dirs: [...dirs], stats, files: [...files] };
  const file = indexFile(dirs, env);
  const dir = indexDir(env);
  const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(temp, JSON.stringify(data));
    renameSync(temp, file);
  } catch {
    try {
      unlinkSync(temp);
    } catch {
      // never made
    }
    return;
  }
  prune(dir);
}

/**
 * Keep the KEEP most recently written indexes (a test suite or a lab's many directory lists make
 * more), and remove the temporary files of writers killed over an hour ago.
 */
function prune(dir: string): void {
  try {
    for (const n of readdirSync(dir)) {
      const path = join(dir, n);
      if (n.startsWith('.tmp-') && (fingerprint(path)?.mtimeMs ?? Infinity) < Date.now() - 3_600_000) unlinkSync(path);
    }
    const entries = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => ({ path: join(dir, n), mtime: fingerprint(join(dir, n))?.mtimeMs ?? 0 }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const e of entries.slice(KEEP)) unlinkSync(e.path);
  } catch {
    // another process pruned meanwhile, or the directory went: nothing to keep tidy
  }
}

/**
 * The words of a command line that may name packages: every word and option value, cut at `=`,
 * `,` and spaces, each piece also without what follows an `@`, `+` or `~` in it (`mumps+metis@5`
 * gives `mumps`, `mumps+metis`, and the piece). More than the names given (versions, file
 * names) is harmless: only names some indexed file defines count.
 */
export function candidateNames(words: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const word of words) {
    for (const piece of word.split(/[\s=,]+/)) {
      if (!piece) continue;
      out.add(piece);
      for (let i = 1; i < piece.length; i++) if ('@+~'.includes(piece[i]!)) out.add(piece.slice(0, i));
    }
  }
  return out;
}
