/**
 * The maintenance commands as functions, for scripts: `lint()` and `style()` over package files
 * (as `tsdsl lint` and `tsdsl style`; they load ts-morph when called, not when tsdsl is
 * imported), and, over a store, `collectGarbage()`, `verifyStore()` (with `repairStore()`) and `closureSizes()` (as
 * `tsdsl gc`, `tsdsl verify` and `tsdsl size`).
 */
import { checkRequestKeys, checkRequestTypes, fieldChecks, shown, TsdslError, type FieldCheck } from './errors.js';
import { isPackage, type Package } from './dsl/package.js';
import type { Collection } from './registry/collection.js';
import type { Finding } from './lint/lint.js';
import { checkers } from './lint/checkers.js';
import type { StyleEdit } from './edit/style.js';

export { collectGarbage, verifyStore, repairStore, closureSizes, type GcOptions, type GcResult, type VerifyOptions, type StoreProblem, type RepairResult, type SizeEntry } from './store/gc.js';
export type { Finding } from './lint/lint.js';

/** What `lint()` checks. */
export interface LintRequest {
  /** Packages or specs (`'hwloc@2'`); default: every package of the collection. */
  packages?: ReadonlyArray<Package | string>;
  /** Where specs are resolved, and what "every package" is; default: the default collection. */
  collection?: Collection;
  /** Only these checkers (`lintCheckers()` lists them); default: all but the network ones. */
  checkers?: readonly string[];
  /** Not these checkers. */
  exclude?: readonly string[];
  /** Also run the checkers that use the network. */
  network?: boolean;
  /** Called as packages are linted. */
  onProgress?: (done: number, total: number) => void;
}

const LINT_REQUEST_KEYS = Object.keys({ packages: 1, collection: 1, checkers: 1, exclude: 1, network: 1, onProgress: 1 } satisfies Record<keyof LintRequest, 1>);
const LINT_FIELD_CHECKS: Readonly<Record<string, FieldCheck>> = {
  checkers: fieldChecks.texts,
  exclude: fieldChecks.texts,
  network: fieldChecks.boolean,
  onProgress: fieldChecks.function,
  collection: fieldChecks.collection,
};

/** The checkers `lint()` can run (`tsdsl lint --list-checkers`); those with `network` run only when asked. */
export function lintCheckers(): Array<{ name: string; description: string; network: boolean }> {
  return checkers.map((c) => ({ name: c.name, description: c.description, network: c.network }));
}

/** Lints packages as `tsdsl lint` does; the findings (file, line, column, checker, message) sorted by place. */
export async function lint(request: LintRequest = {}): Promise<Finding[]> {
  checkRequestKeys(request, LINT_REQUEST_KEYS, 'lint()');
  checkRequestTypes(request, LINT_FIELD_CHECKS, 'lint()');
  if (request.packages !== undefined && !Array.isArray(request.packages)) {
    throw new TsdslError(`lint(): \`packages\` is an array of packages or package names${typeof request.packages === 'string' ? `: wrap it, ['${request.packages}']` : ''}`);
  }
  const { findCheckers, lintPackages, selectCheckers } = await import('./lint/lint.js');
  // The command line's messages name -c, -x and --list-checkers: say the fields instead.
  const said = (e: unknown, field?: string) =>
    new TsdslError(`lint(): ${field ? `\`${field}\`: ` : ''}${(e as Error).message.replace(/^-x/, '`exclude`').replace(/-c names/, '`checkers` names').replace('see --list-checkers', 'see lintCheckers()')}`);
  for (const field of ['checkers', 'exclude'] as const) {
    try {
      findCheckers(request[field] ?? []);
    } catch (e) {
      throw said(e, field);
    }
  }
  let selected;
  try {
    selected = selectCheckers(request.checkers ?? [], request.exclude ?? [], request.network === true);
  } catch (e) {
    throw said(e);
  }
  const collection = request.collection ?? (await import('./transform/api.js')).getDefaultCollection();
  const packages = request.packages
    ? request.packages.map((p) => {
        if (typeof p === 'string') return collection.resolve(p);
        if (!isPackage(p)) throw new TsdslError(`lint(): ${String(p)} is neither a package nor a package name`);
        return p;
      })
    : collection.all();
  return lintPackages(packages, selected, request.onProgress ? { onProgress: request.onProgress, collection } : { collection });
}

/** What `style()` did to a file. */
export interface StyleResult {
  /** Whether the canonical form differs from the file. */
  changed: boolean;
  /** The canonical text (the file's own text when nothing changed). */
  text: string;
  /** What was changed, with the line and column of each definition in the file as it was. */
  edits: Array<StyleEdit & { line: number; column: number }>;
}

/**
 * Puts a package file in the canonical form `tsdsl style` gives it (field order, sorted input
 * lists; comments kept). Writes the file (atomically) only with `write: true`; a file with a
 * syntax error is refused and left as it is.
 */
export async function style(file: string, options: { write?: boolean } = {}): Promise<StyleResult> {
  if (typeof file !== 'string' || file === '') throw new TsdslError(`style() takes the name of a package file, not ${typeof file === 'string' ? 'an empty string' : shown(file)}`);
  checkRequestKeys(options, ['write'], 'style()');
  const { styleFile } = await import('./edit/style.js');
  const r = styleFile(file);
  const changed = r.text !== r.original;
  if (changed && options.write === true) (await import('./edit/source.js')).writeAtomically(file, r.text, r.original);
  return { changed, text: r.text, edits: r.edits };
}
