/**
 * The package index: which package names each user package file (-L, TSDSL_PACKAGE_PATH)
 * defines, kept between commands, as Guix keeps its package cache. A command that names a few
 * packages then imports only the files that define them (and, through their imports, what they
 * use), not every file of a lab's collection: each file costs Node several milliseconds to
 * resolve, strip and link (a 300-file directory took 4 s a command, a 3,000-file one 10–20 s).
 *
 * The index is a cache, never a source of truth. It holds the modification and change times,
 * size and inode of everything the answer depends on, and tsdsl's own build: the walk's (every
 * directory walked, where a file added, removed or renamed changes the directory's, and every
 * file that was looked at as a package file, or read to tell), and each package file's (the
 * file, the files it imports by a relative specifier, wherever they are, and the directories
 * they are looked for in, where a module added may be taken instead), kept as a graph of direct
 * imports. What changed is known file by file: a file is out of date when it or anything it
 * imports, however indirectly, changed; such files are imported again (with the files that
 * define the names asked for), and the walk is done again when one of its paths changed. So
 * after an edit, the next command imports the edited file and what imports it, not the whole
 * lab (unless a package file exports an array: see loadIndexed in load.ts). A path that changed
 * less than two seconds before the load, or during it, is recorded as unknown, so out of date
 * next time (a second change in the same tick of a coarse clock would go unseen, as git's
 * "racy" index entries). A load with a failure writes nothing. What it cannot see: a
 * package file whose packages, or whether it loads, depend on something else than those files
 * (an environment variable, a module from node_modules, a file it reads, an import by an
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
 * another file pushes packages into gives fewer). `arrays`: whether it exports an array, whose
 * packages another file sharing a module with it may change.
 */
export interface IndexedFile {
  file: string;
  names: string[];
  count: number;
  arrays: boolean;
}

interface IndexData {
  format: number;
  tsdsl: string;
  dirs: string[];
  /** Every path the index depends on, and its `mtime:ctime:size:inode` (nanoseconds; '' unknown). */
  paths: string[];
  stats: string[];
  /** The paths of the walk (indexes into `paths`): one changed, and the walk is done again. */
  walk: number[];
  /**
   * A file's relative imports (by its index into `paths`): each specifier, the directory it is
   * looked for in and the file it named (indexes into `paths`, -1 for none).
   */
  imports: Record<string, Array<[string, number, number]>>;
  /** The package files in loading order, each with its index into `paths`. */
  files: Array<IndexedFile & { path: number }>;
}

/** A relative import: its specifier, the directory it is looked for in, and the module it named. */
export interface RelativeImport {
  specifier: string;
  dir: string | undefined;
  target: string | undefined;
}

/** An index read, with what changed since it was written. */
export interface PackageIndex {
  /** The package files in loading order, as the last load found them. */
  files: IndexedFile[];
  /** Whether a path of the walk changed: the package files must be found again. */
  rewalk: boolean;
  /** The walk's paths, as recorded (when nothing of it changed, what a new index keeps). */
  walk: string[];
  /** Whether `file` (a package file or a module one imports), or anything it imports, changed. */
  outOfDate(file: string): boolean;
}

const FORMAT = 5;
const KEEP = 64;
/** A path changed less than this before the load began may change again unseen (FAT's mtime ticks in 2 s). */
const RACY_MS = 2000;
/** How far the file system's clock (the kernel's coarse one) may lag Date.now(). */
const CLOCK_SLACK_MS = 20;

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
function fingerprint(path: string): { text: string; mtimeMs: number; ctimeMs: number } | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return { text: `${st.mtimeNs}:${st.ctimeNs}:${st.size}:${st.ino}`, mtimeMs: Number(st.mtimeNs / 1_000_000n), ctimeMs: Number(st.ctimeNs / 1_000_000n) };
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

const isIndex = (i: unknown, n: number): i is number => Number.isInteger(i) && (i as number) >= 0 && (i as number) < n;
const isIndexes = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.every((i) => isIndex(i, n));

/**
 * The index for `dirs` and what changed since it was written, or undefined (none, another
 * tsdsl's, damaged). `resolve` finds the module a relative specifier names now, as the loader
 * does: asked only for imports whose directory changed, or did not exist.
 */
export function readIndex(dirs: readonly string[], tsdsl: string, env: Env, resolve: (from: string, specifier: string) => string | undefined): PackageIndex | undefined {
  let data: IndexData;
  try {
    data = JSON.parse(readFileSync(indexFile(dirs, env), 'utf8')) as IndexData;
  } catch {
    return undefined;
  }
  if (data?.format !== FORMAT || data.tsdsl !== tsdsl || JSON.stringify(data.dirs) !== JSON.stringify(dirs)) return undefined;
  // A file damaged or edited by hand is no index either, never an error.
  const { paths, stats, walk, imports, files } = data;
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string') || !Array.isArray(stats) || stats.length !== paths.length) return undefined;
  const n = paths.length;
  const isImport = (v: unknown): v is [string, number, number] =>
    Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && [v[1], v[2]].every((i) => i === -1 || isIndex(i, n));
  if (!isIndexes(walk, n) || typeof imports !== 'object' || imports === null || !Object.entries(imports).every(([k, v]) => isIndex(Number(k), n) && Array.isArray(v) && v.every(isImport))) {
    return undefined;
  }
  if (!Array.isArray(files) || !files.every((f) => typeof f?.file === 'string' && isIndex(f.path, n) && paths[f.path] === f.file && Number.isInteger(f.count) && typeof f.arrays === 'boolean' && Array.isArray(f.names) && f.names.every((x) => typeof x === 'string'))) {
    return undefined;
  }
  const changed = paths.map((p, i) => stats[i] === '' || fingerprint(p)?.text !== stats[i]);
  // Out of date: changed, importing by a specifier that now names another module (one added in
  // its directory), or importing (however indirectly) what is out of date: found from the
  // first two along the imports backwards, each module once.
  const renamed = ([specifier, dir, target]: [string, number, number], from: number): boolean =>
    (dir === -1 || changed[dir]!) && resolve(paths[from]!, specifier) !== (target === -1 ? undefined : paths[target]);
  const importers = new Map<number, number[]>();
  const stale = new Set<number>();
  for (const [key, list] of Object.entries(imports)) {
    const i = Number(key);
    if (changed[i] || list.some((imp) => renamed(imp, i))) stale.add(i);
    for (const [, , j] of list) {
      if (j === -1) continue;
      const known = importers.get(j);
      if (known) known.push(i);
      else importers.set(j, [i]);
    }
  }
  for (let i = 0; i < n; i++) if (changed[i]) stale.add(i);
  const todo = [...stale];
  while (todo.length) for (const i of importers.get(todo.pop()!) ?? []) if (!stale.has(i)) (stale.add(i), todo.push(i));
  const byPath = new Map(paths.map((p, i) => [p, i]));
  return {
    files: files.map(({ file, names, count, arrays }) => ({ file, names, count, arrays })),
    rewalk: walk.some((i) => changed[i]),
    walk: walk.map((i) => paths[i]!),
    outOfDate: (file) => {
      const i = byPath.get(file);
      return i === undefined || stale.has(i);
    },
  };
}

/**
 * Write the index of a load that began at `startedMs`: the package files `files` in loading
 * order, the walk's paths, and the relative imports of every module imported. A path changed
 * within RACY_MS of the start, or after it, or gone, is recorded as unknown. After it by its
 * ctime too, which no one sets back: a file rewritten during the load with its mtime put back
 * (`cp -p`, `rsync -t`) was read as it was before, and its new fingerprint would vouch for that.
 */
export function writeIndex(
  dirs: readonly string[],
  tsdsl: string,
  env: Env,
  files: readonly IndexedFile[],
  walk: Iterable<string>,
  imports: ReadonlyMap<string, readonly RelativeImport[]>,
  startedMs: number,
): void {
  const paths: string[] = [];
  const at = new Map<string, number>();
  const indexOf = (p: string): number => {
    let i = at.get(p);
    if (i === undefined) (i = paths.length), at.set(p, i), paths.push(p);
    return i;
  };
  const data: IndexData = { format: FORMAT, tsdsl, dirs: [...dirs], paths, stats: [], walk: [...new Set(walk)].map(indexOf), imports: {}, files: [] };
  const orNone = (p: string | undefined): number => (p === undefined ? -1 : indexOf(p));
  for (const [from, list] of imports) data.imports[indexOf(from)] = list.map((i) => [i.specifier, orNone(i.dir), orNone(i.target)]);
  data.files = files.map((f) => ({ ...f, path: indexOf(f.file) }));
  data.stats = paths.map((p) => {
    const f = fingerprint(p);
    return f && f.mtimeMs <= startedMs - RACY_MS && f.ctimeMs < startedMs - CLOCK_SLACK_MS ? f.text : '';
  });
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
 * `,` and spaces, each piece also without what follows an `@`, `+`, `~` or `:` in it (`mumps+metis@5`
 * gives `mumps`, `mumps+metis`, and the piece; `hwloc:lib`, `hwloc`). More than the names given (versions, file
 * names) is harmless: only names some indexed file defines count.
 */
export function candidateNames(words: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const word of words) {
    for (const piece of word.split(/[\s=,]+/)) {
      if (!piece) continue;
      out.add(piece);
      for (let i = 1; i < piece.length; i++) if ('@+~:'.includes(piece[i]!)) out.add(piece.slice(0, i));
    }
  }
  return out;
}
