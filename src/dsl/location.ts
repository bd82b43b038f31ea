/**
 * Source locations of package definitions. `definePackage` and `inherit` capture a stack trace
 * (cheap: V8 formats it only when read); the location is worked out the first time someone asks
 * for it (`tsdsl show`, `tsdsl edit`, error messages). The default collection runs from `dist/`,
 * built by sucrase, which keeps line numbers, so `dist/packages/maths.js:42` is
 * `packages/maths.ts:42`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sep } from 'node:path';

/** Where something was defined: an absolute file name and a 1-based line and column. */
export interface Location {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** An unresolved capture: the stack of an Error made at the definition site. */
export type CapturedLocation = { readonly error: Error } | Location;

const DSL_DIR = (() => {
  const here = fileURLToPath(import.meta.url);
  return here.slice(0, here.lastIndexOf(sep) + 1);
})();

/**
 * Capture the caller's location. Only a few frames are recorded, above `skip` (the DSL entry
 * point the user called), because a collection of 20,000 packages keeps 20,000 of these alive;
 * frames inside the DSL itself are skipped when resolving.
 */
// eslint-disable-next-line @typescript-eslint/ban-types
export function captureLocation(skip?: Function): CapturedLocation {
  const holder = {} as Error;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 3;
  Error.captureStackTrace(holder, skip ?? captureLocation);
  Error.stackTraceLimit = limit;
  return { error: holder };
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

/** True for a frame's file that is not where a package was defined. */
function skipFile(file: string): boolean {
  return !file.startsWith('/') || file.startsWith(DSL_DIR) || file.includes(`${sep}node_modules${sep}`);
}

/**
 * The captured frames as V8 call sites, read before anything formats the stack as text. V8
 * works out a frame's line only when asked, and for the top-level frame of a large module that
 * costs a scan of the whole module, so formatting every frame made resolving the locations of a
 * 20,000-package file quadratic; only the frame we use is asked for its line here.
 */
function callSites(error: Error): NodeJS.CallSite[] | undefined {
  // A source-map hook (a test runner, --enable-source-maps) maps positions when formatting the
  // text; raw call sites would bypass it, so leave the stack to it then.
  // (Node 20 exposes its own default as `ErrorPrepareStackTrace`: that one maps nothing.)
  const prev = Error.prepareStackTrace;
  if ((prev !== undefined && prev.name !== 'ErrorPrepareStackTrace') || (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled) return undefined;
  Error.prepareStackTrace = (_e, sites) => sites;
  try {
    const stack: unknown = error.stack;
    return Array.isArray(stack) ? (stack as NodeJS.CallSite[]) : undefined;
  } finally {
    if (prev === undefined) delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
    else Error.prepareStackTrace = prev;
  }
}

/** Turn a capture into a location: the first stack frame outside the DSL modules. */
export function resolveLocation(captured: CapturedLocation | undefined): Location | undefined {
  if (captured === undefined) return undefined;
  if (!('error' in captured)) return captured;
  const sites = callSites(captured.error);
  if (sites) {
    for (const site of sites) {
      let file = site.getFileName() ?? '';
      if (file.startsWith('file://')) file = fileURLToPath(file);
      if (skipFile(file)) continue;
      const line = site.getLineNumber();
      if (line === null) continue;
      return { file: sourceFileOf(file), line, column: site.getColumnNumber() ?? 1 };
    }
    return undefined;
  }
  // The stack was already formatted (someone read it): parse the text.
  const lines = (captured.error.stack ?? '').split('\n').slice(1);
  for (const line of lines) {
    const m = FRAME.exec(line);
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (file.startsWith(DSL_DIR) || file.includes(`${sep}node_modules${sep}`) || file.startsWith('node:')) continue;
    return { file: sourceFileOf(file), line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

/** `file:line` relative to `cwd` when that is shorter, for messages. */
export function formatLocation(loc: Location | undefined, cwd = process.cwd()): string {
  if (!loc) return '<unknown location>';
  const file = loc.file.startsWith(cwd + sep) ? loc.file.slice(cwd.length + 1) : loc.file;
  return `${file}:${loc.line}`;
}

/** The 1-based number of the first line of `file` that passes `test`; undefined when none does or the file cannot be read. */
export function lineWhere(file: string, test: (line: string) => boolean): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const i = lines.findIndex(test);
  return i >= 0 ? i + 1 : undefined;
}
