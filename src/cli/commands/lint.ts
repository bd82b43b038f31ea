/** `tsdsl lint`: check package definitions for common mistakes (Guix's `guix lint`). */
import { relative, isAbsolute } from 'node:path';
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { err, out } from '../command.js';
import { loadOptions, refuseWith } from '../options.js';
import { collectionFrom, resolveWords } from '../packages.js';

const list = (v: unknown, flag: string): string[] => {
  const given = (v as string[] | undefined) ?? [];
  const names = given.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  // `--checkers=` (a variable that was empty) would run every checker: refuse it.
  if (given.length && names.length === 0) throw new TsdslError(`tsdsl lint: ${flag} names no checker; give their names (e.g. ${flag}=synopsis,description; see --list-checkers)`);
  return names;
};

export const command: Command = {
  name: 'lint',
  summary: 'check package definitions for common mistakes',
  usage: 'tsdsl lint [OPTION]... [PACKAGE]...',
  details:
    'Runs the checkers over PACKAGE (every package of the collection and -L directories when none is\n' +
    'given) and prints one line per finding: FILE:LINE:COLUMN: CHECKER: PACKAGE: MESSAGE. Exits with 1\n' +
    'when there are findings, 0 when there are none, 2 on an error (a package file that did not\n' +
    'load). Checkers that need the network run only when named with -c or when --network is given.\n' +
    'With --json, one JSON array of {"file", "line", "column", "checker", "package", "message"}\n' +
    '(with --list-checkers, of {"name", "description", "network"}), the exit codes as without it.',
  exitOneIsResult: true,
  examples: [
    ['tsdsl lint hwloc', 'every checker on hwloc'],
    ['tsdsl lint', 'the whole collection'],
    ['tsdsl lint -c synopsis,description -L ./my-packages', 'only the metadata checkers, on my packages too'],
    ['tsdsl lint -x derivation,formatting', 'all but the slower checkers'],
    ['tsdsl lint --list-checkers', 'what each checker looks for'],
    ["tsdsl lint --json | jq -r '.[] | select(.checker == \"synopsis\") | .package'", 'the packages whose synopsis has a finding'],
  ],
  options: [
    { name: 'checkers', short: 'c', kind: 'string', multiple: true, arg: 'NAME,…', description: 'run only these checkers (comma-separated; repeatable)' },
    { name: 'exclude', short: 'x', kind: 'string', multiple: true, arg: 'NAME,…', description: 'skip these checkers' },
    { name: 'list-checkers', short: 'l', kind: 'boolean', description: 'list the checkers and exit' },
    { name: 'network', short: 'n', kind: 'boolean', description: 'also run the checkers that need the network' },
    { name: 'json', kind: 'boolean', description: 'print the findings (or the checkers) as one JSON array' },
    ...loadOptions,
  ],
  async run(args) {
    const { checkers } = await import('../../lint/checkers.js');
    if (args.values['list-checkers']) {
      refuseWith(args, ['checkers', 'exclude', 'network'], 'tsdsl lint: --list-checkers lists every checker, so');
      if (args.positionals.length) throw new TsdslError(`tsdsl lint: --list-checkers lists the checkers and checks no package; drop ${args.positionals.join(' ')}, or --list-checkers`);
      if (args.values['json']) {
        out(`${JSON.stringify(checkers.map((c) => ({ name: c.name, description: c.description, network: c.network })), null, 2)}\n`);
        return 0;
      }
      const w = Math.max(...checkers.map((c) => c.name.length));
      out(['Available checkers:', ...checkers.map((c) => `  ${c.name.padEnd(w)}  ${c.description}${c.network ? ' (network)' : ''}`), ''].join('\n'));
      return 0;
    }
    const { lintPackages, selectCheckers } = await import('../../lint/lint.js');
    const selected = selectCheckers(list(args.values['checkers'], '--checkers'), list(args.values['exclude'], '--exclude'), args.values['network'] === true);
    const collection = await collectionFrom(args);
    const packages = args.positionals.length ? resolveWords(collection, args.positionals) : collection.all();
    // On a terminal, a redrawn count; otherwise nothing but the findings.
    const tty = (await import('../progress.js')).redraws();
    const onProgress = (done: number, total: number) => process.stderr.write(`\r\x1b[Klinting: ${done}/${total} packages`);
    const findings = await lintPackages(packages, selected, tty ? { onProgress, collection } : { collection });
    if (tty) process.stderr.write('\r\x1b[K');
    const cwd = process.cwd();
    const show = (f: string) => {
      if (!isAbsolute(f)) return f;
      const r = relative(cwd, f);
      return r.startsWith('..') ? f : r;
    };
    if (args.values['json']) out(`${JSON.stringify(findings.map((f) => ({ ...f, file: show(f.file) })), null, 2)}\n`);
    else out(findings.map((f) => `${show(f.file)}:${f.line}:${f.column}: ${f.checker}: ${f.package}: ${f.message}\n`).join(''));
    if (tty)
      err(findings.length ? `${findings.length} finding${findings.length === 1 ? '' : 's'} in ${new Set(findings.map((f) => f.package)).size} of ${packages.length} packages` : `${packages.length} packages, no findings`);
    // A package file of TSDSL_PACKAGE_PATH that does not load was a warning above (other
    // commands go on without its packages); a lint of them all fails for it, as CI needs.
    const broken = args.positionals.length ? [] : collection.failedFiles;
    // An error (exit 2, as for every error of lint's), not a finding: what was not loaded was not checked.
    if (broken.length) {
      err(`tsdsl: error: tsdsl lint: ${broken.length} package file${broken.length === 1 ? '' : 's'} of TSDSL_PACKAGE_PATH did not load (see the warning${broken.length === 1 ? '' : 's'} above), so ${broken.length === 1 ? 'its' : 'their'} packages were not checked: ${broken.slice(0, 10).map(show).join(', ')}${broken.length > 10 ? `, and ${broken.length - 10} more` : ''}`);
      return 2;
    }
    return findings.length ? 1 : 0;
  },
};
