/**
 * Running lint checkers over packages: choose checkers by name (`-c`, `-x`), run them over each
 * package, and turn problems into `file:line:col: checker: message` findings, positioned on the
 * field they are about. The checkers themselves live in checkers.ts.
 */
import { TsdslError, didYouMean, isTsdslError } from '../errors.js';
import { fullName, type Package } from '../dsl/package.js';
import type { Lowerer } from '../derivation/lower.js';
import type { Collection } from '../registry/collection.js';
import { checkers, type LintChecker, type LintContext, type Problem } from './checkers.js';
import type { SourceIndex } from './positions.js';

/** One finding, ready to print. */
export interface Finding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly checker: string;
  readonly package: string;
  readonly message: string;
}

/** Look up checkers by name; unknown names fail with a suggestion. */
export function findCheckers(names: readonly string[]): LintChecker[] {
  const known = checkers.map((c) => c.name);
  const bad = names.filter((n) => !known.includes(n));
  if (bad.length)
    throw new TsdslError(
      `unknown lint checker ${bad.map((n) => `\`${n}\`${didYouMean(n, known)}`).join(', ')} (checkers: ${known.join(', ')}; see --list-checkers)`,
    );
  return checkers.filter((c) => names.includes(c.name));
}

/**
 * The checkers to run: those named by `only` (all when empty) minus `exclude`. Checkers that
 * need the network run only when named or when `network` is set.
 */
export function selectCheckers(only: readonly string[], exclude: readonly string[], network = false): LintChecker[] {
  findCheckers([...only, ...exclude]);
  const base = only.length ? checkers.filter((c) => only.includes(c.name)) : checkers.filter((c) => network || !c.network);
  const selected = base.filter((c) => !exclude.includes(c.name));
  // Silence from no checker at all would read as a clean bill.
  if (selected.length === 0) {
    throw new TsdslError(`-x excludes every checker ${only.length ? `-c names (${only.join(', ')})` : 'there is'}, so nothing would be checked; drop one of them`);
  }
  return selected;
}

/** Where a finding whose package has no known location is put. */
const NOWHERE = { file: '<unknown>', line: 0, column: 0 } as const;

/** Lint `packages` with `selected`; findings sorted by file, line, column, checker. */
export async function lintPackages(
  packages: readonly Package[],
  selected: readonly LintChecker[] = checkers.filter((c) => !c.network),
  options: { onProgress?: (done: number, total: number) => void; collection?: Collection } = {},
): Promise<Finding[]> {
  // The package files are parsed (ts-morph, a second to load) only when a checker reads them or
  // a finding needs its place in them: `lint -c name` of clean packages never loads it.
  let sources: SourceIndex | undefined;
  const loadSources = async (): Promise<SourceIndex> => (sources ??= new (await import('./positions.js')).SourceIndex());
  if (selected.some((c) => c.readsSources)) await loadSources();
  let lowerer: Lowerer | undefined;
  // Preparing walks a package's whole closure: do it once for every package linted, and fall
  // back to one package at a time only when some file is missing, to say which package it is.
  let preparedAll: boolean | undefined;
  let listed: Set<Package> | undefined;
  const ctx: LintContext = {
    get sources(): SourceIndex {
      if (!sources) throw new Error('lint: a checker read the package files without `readsSources`');
      return sources;
    },
    ...(options.collection ? { collection: options.collection } : {}),
    async lowerer() {
      if (!lowerer) {
        const { Lowerer: L } = await import('../derivation/lower.js');
        lowerer = new L();
        // Offline: an unpinned source is reported (checkers `source`, `derivation`), not fetched.
        lowerer.fetchUnpinned = undefined;
      }
      return lowerer;
    },
    async prepare(p) {
      const l = await ctx.lowerer();
      if (preparedAll === undefined) {
        try {
          await l.prepare(packages);
          preparedAll = true;
        } catch {
          preparedAll = false;
        }
      }
      // A package not among those prepared at once (another variant of one) is prepared alone.
      if (!preparedAll || !(listed ??= new Set(packages)).has(p)) await l.prepare([p]);
    },
  };
  // Found, and placed in their files once every package is checked.
  const found: Array<{ p: Package; checker: string; message: string; at: Problem['at']; field: readonly string[] }> = [];
  const seen = new Set<string>();
  let done = 0;
  for (const p of packages) {
    if (options.onProgress && done++ % 250 === 0) options.onProgress(done - 1, packages.length);
    // A package that stops a checker with an error of tsdsl's (its build system's toolchain() is
    // malformed, say) gets that error as a finding of the first checker it stopped, unless
    // another checker reported it already; the other packages are linted all the same.
    const before = found.length;
    const stopped = new Map<string, LintChecker>();
    for (const c of selected) {
      let problems: Awaited<ReturnType<LintChecker['check']>>;
      try {
        problems = await c.check(p, ctx);
      } catch (e) {
        if (!isTsdslError(e)) throw e;
        if (!stopped.has((e as Error).message)) stopped.set((e as Error).message, c);
        continue;
      }
      for (const prob of problems) {
        // Packages sharing one definition (a helper function) report its formatting once.
        if (prob.at) {
          const key = `${prob.at.file}:${prob.at.line}:${prob.at.column}:${c.name}:${prob.message}`;
          if (seen.has(key)) continue;
          seen.add(key);
        }
        found.push({ p, checker: c.name, message: prob.message, at: prob.at, field: prob.field ?? [] });
      }
    }
    for (const [message, c] of stopped) {
      if (found.slice(before).some((f) => f.message.includes(message))) continue;
      found.push({ p, checker: c.name, message, at: undefined, field: [] });
    }
  }
  const index = found.some((f) => !f.at) ? await loadSources() : undefined;
  const findings: Finding[] = found.map((f) => {
    const pos = f.at ?? index?.position(f.p.location, f.field) ?? NOWHERE;
    return { file: pos.file, line: pos.line, column: pos.column, checker: f.checker, package: fullName(f.p), message: f.message };
  });
  findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column || (a.checker < b.checker ? -1 : a.checker > b.checker ? 1 : 0)));
  return findings;
}
