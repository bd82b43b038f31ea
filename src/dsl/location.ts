/**
 * Source locations of package definitions. `definePackage` and `inherit` capture the caller's
 * stack frame (cheap: V8 works out its line only when asked); the location is worked out the
 * first time someone asks for it (`tsdsl show`, `tsdsl edit`, error messages). The default
 * collection runs from `dist/`, built by sucrase, which keeps line numbers, so
 * `dist/packages/maths.js:42` is `packages/maths.ts:42`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, sep } from 'node:path';

/** Where something was defined: an absolute file name and a 1-based line and column. */
export interface Location {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/**
 * An unresolved capture: the one V8 call site that is the definition; or, when a source-map hook
 * formats stacks, the stack of an Error made at the definition site (the hook maps it).
 */
export type CapturedLocation = NodeJS.CallSite | { readonly error: Error } | Location;

const DSL_DIR = (() => {
  const here = fileURLToPath(import.meta.url);
  return here.slice(0, here.lastIndexOf(sep) + 1);
})();
const DSL_URL = pathToFileURL(DSL_DIR).href;

/**
 * The tsdsl installation DSL_DIR is in (`dist/src/dsl/` or `src/dsl/` under it). Its own files
 * (the default collection in `dist/packages/`) are never a dependency's, even when tsdsl itself
 * is installed in a `node_modules` (an `npm pack` tarball installed in a user's project).
 */
const INSTALL_DIR = DSL_DIR.replace(new RegExp(`(?:dist\\${sep})?src\\${sep}dsl\\${sep}$`), '');

/** True for a path inside a dependency's `node_modules`, other than tsdsl's own files. */
export function inDependency(file: string): boolean {
  const rest = file.startsWith(INSTALL_DIR) ? file.slice(INSTALL_DIR.length - 1) : file;
  return rest.includes(`${sep}node_modules${sep}`);
}

/** Hands V8's call sites over as they are, instead of formatting them. */
const rawSites = (_e: Error, sites: NodeJS.CallSite[]): NodeJS.CallSite[] => sites;

/**
 * Whether stacks are formatted by someone else's hook (a test runner's, `--enable-source-maps`)
 * that maps positions: raw call sites would bypass it. (Node 20 exposes its own default as
 * `ErrorPrepareStackTrace`: that one maps nothing.)
 */
function hooked(prev: typeof Error.prepareStackTrace): boolean {
  return (prev !== undefined && prev.name !== 'ErrorPrepareStackTrace') || (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true;
}

/** Calls `f` with V8's call sites handed over raw (an array, not text); undefined, without calling it, when a hook formats stacks. */
function withRawSites<T>(f: () => T): T | undefined {
  const prev = Error.prepareStackTrace;
  if (hooked(prev)) return undefined;
  Error.prepareStackTrace = rawSites;
  try {
    return f();
  } finally {
    if (prev === undefined) delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
    else Error.prepareStackTrace = prev;
  }
}

/**
 * Capture the caller's location. Only a few frames are looked at, above `skip` (the DSL entry
 * point the user called); frames inside the DSL itself are passed over. Only the call site of
 * the definition is kept: a collection of 20,000 packages keeps 20,000 of these alive, and a
 * stack held for formatting later costs three times the memory (an object in dictionary mode,
 * an accessor, every frame).
 */
// eslint-disable-next-line @typescript-eslint/ban-types
export function captureLocation(skip?: Function): CapturedLocation {
  const holder = {} as Error;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 3;
  try {
    const site = withRawSites(() => {
      Error.captureStackTrace(holder, skip ?? captureLocation);
      const sites: unknown = holder.stack;
      if (!Array.isArray(sites)) return undefined;
      for (const s of sites as NodeJS.CallSite[]) if (!skipFile(s.getFileName() ?? '')) return s;
      return undefined;
    });
    if (site) return site;
    if (holder.stack === undefined) Error.captureStackTrace(holder, skip ?? captureLocation);
    return { error: holder };
  } finally {
    Error.stackTraceLimit = limit;
  }
}

const FRAME = /\(?((?:file:\/\/)?\/[^():]+):(\d+):(\d+)\)?\s*$/;

/** Map a file in `dist/` back to the TypeScript source next to it, when that source exists. */
export function sourceFileOf(file: string): string {
  const marker = `${sep}dist${sep}`;
  const i = file.lastIndexOf(marker);
  if (i >= 0 && file.endsWith('.js')) {
    const candidate = file.slice(0, i + 1) + file.slice(i + marker.length).replace(/\.js$/, '.ts');
    if (existsSync(candidate)) return candidate;
  }
  return file;
}

/** True for a frame's file (a path or a `file:` URL) that is not where a package was defined. */
function skipFile(file: string): boolean {
  if (file.startsWith('file://')) return file.startsWith(DSL_URL) || inDependency(fileURLToPath(file));
  return !file.startsWith('/') || file.startsWith(DSL_DIR) || inDependency(file);
}

/** The location of a call site: the file (a `dist/` one mapped to its source), line and column. */
function siteLocation(site: NodeJS.CallSite): Location | undefined {
  let file = site.getFileName() ?? '';
  if (file.startsWith('file://')) file = fileURLToPath(file);
  // V8 works out a frame's line only when asked; for the top-level frame of a large module that
  // costs a scan of the whole module, so only the frame used is asked.
  const line = site.getLineNumber();
  if (line === null) return undefined;
  return { file: sourceFileOf(file), line, column: site.getColumnNumber() ?? 1 };
}

/** Turn a capture into a location: the first stack frame outside the DSL modules. */
export function resolveLocation(captured: CapturedLocation | undefined): Location | undefined {
  if (captured === undefined) return undefined;
  if ('file' in captured) return captured;
  if (!('error' in captured)) return siteLocation(captured);
  const error = captured.error;
  // Read before anything formats the stack as text (then it is parsed below).
  const sites = withRawSites(() => error.stack as unknown);
  if (Array.isArray(sites)) {
    for (const site of sites as NodeJS.CallSite[]) {
      if (skipFile(site.getFileName() ?? '')) continue;
      const loc = siteLocation(site);
      if (loc) return loc;
    }
    return undefined;
  }
  // The stack was formatted as text (by a hook, or someone read it): parse the text.
  const text: unknown = error.stack;
  if (typeof text !== 'string') return undefined;
  const lines = text.split('\n').slice(1);
  for (const line of lines) {
    const m = FRAME.exec(line);
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (file.startsWith(DSL_DIR) || inDependency(file) || file.startsWith('node:')) continue;
    return { file: sourceFileOf(file), line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

/**
 * The directory of the file that called `fn` (a package file, a script), which relative file
 * names in its arguments are read from, as `local()` reads them; undefined from a REPL or `-e`.
 */
export function callerDirectory(fn: Function): string | undefined {
  return directoryOf(captureLocation(fn));
}

/** The directory of a captured location's file. */
export function directoryOf(captured: CapturedLocation): string | undefined {
  const loc = resolveLocation(captured);
  return loc ? dirname(loc.file) : undefined;
}

/** `file:line` relative to `cwd` when that is shorter, for messages. */
export function formatLocation(loc: Location | undefined, cwd = process.cwd()): string {
  if (!loc) return '<unknown location>';
  const file = loc.file.startsWith(cwd + sep) ? loc.file.slice(cwd.length + 1) : loc.file;
  return `${file}:${loc.line}`;
}

/**
 * The 1-based number of the first line of `file` (from line `from` on) that passes `test`;
 * undefined when none does or the file cannot be read.
 */
export function lineWhere(file: string, test: (line: string) => boolean, from = 1): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  for (let i = Math.max(0, from - 1); i < lines.length; i++) if (test(lines[i]!)) return i + 1;
  return undefined;
}
