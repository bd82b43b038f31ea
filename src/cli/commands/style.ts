/** `tsdsl style`: put package files in canonical form (Guix's `guix style`). */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatLocation } from '../../dsl/location.js';
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { err, out, warn } from '../command.js';

export const command: Command = {
  name: 'style',
  summary: 'put package files in canonical form (field order, sorted inputs)',
  usage: 'tsdsl style [OPTION]... FILE...',
  details:
    'Rewrites the package definitions of each FILE (the objects given to definePackage, inherit and\n' +
    '.with) so their fields come in the canonical order (name, version, source, buildSystem, outputs,\n' +
    'variants, inputs, propagatedInputs, nativeInputs, arguments, synopsis, description, homePage,\n' +
    'license, properties, replacement; unknown fields after them) and their input lists are sorted.\n' +
    'Comments, blank lines and the text of each field are kept; a list with a comment inside keeps\n' +
    'its order. Running it twice changes nothing.\n' +
    'With --dry-run, prints FILE:LINE:COLUMN: what would change, writes nothing, and exits with 1\n' +
    'when some file is not in canonical form (errors exit 2).',
  exitOneIsResult: true,
  examples: [
    ['tsdsl style packages/maths.ts', 'rewrite one file in place'],
    ['tsdsl style --dry-run my-packages/*.ts', 'check, as the `formatting` lint checker does'],
  ],
  options: [{ name: 'dry-run', short: 'n', kind: 'boolean', description: 'report what would change; write nothing' }],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl style: no file given; try `tsdsl style packages/maths.ts` (see --help)');
    const { styleFile } = await import('../../edit/style.js');
    const { writeAtomically } = await import('../../edit/source.js');
    const dry = args.values['dry-run'] === true;
    // A package's name where a file was meant (`guix style hwloc` takes one): say which file defines it.
    for (const file of args.positionals) {
      if (existsSync(file) || !/^[A-Za-z0-9][\w+.@-]*$/.test(file)) continue;
      const { loadCollection } = await import('../../registry/load.js');
      const collection = await loadCollection({ loadPath: [] });
      const pkg = collection.versions(file.split('@')[0]!)[0];
      if (pkg?.location) {
        const where = formatLocation(pkg.location).replace(/:\d+$/, '');
        throw new TsdslError(`tsdsl style takes package files, and \`${file}\` is a package, not a file: it is defined in ${where}; run \`tsdsl style ${where}\``);
      }
    }
    // Each file once, however it is named (`x.ts ./x.ts`, a link to it): styled twice from the
    // text read before either write, the second write found the first one's text and refused it.
    const seen = new Set<string>();
    const files = args.positionals.filter((file) => {
      const key = existsSync(file) ? realpathSync(file) : resolve(file);
      return !seen.has(key) && Boolean(seen.add(key));
    });
    // Style every file first, so a syntax error in one leaves all of them untouched.
    const results = files.map((file) => ({ file, ...styleFile(file) }));
    let changed = 0;
    for (const r of results) {
      if (r.text === r.original) continue;
      changed++;
      if (dry) {
        out(r.edits.map((e) => `${r.file}:${e.line}:${e.column}: ${e.message}\n`).join(''));
        continue;
      }
      writeAtomically(r.file, r.text, r.original);
      if (process.stderr.isTTY) err(`styled ${r.file} (${r.edits.length} definition${r.edits.length === 1 ? '' : 's'})`);
      // Said always: the packages' store paths change, and they are built again.
      for (const e of r.edits.filter((x) => x.reordersInputs)) {
        warn(`${r.file}:${e.line}:${e.column}: sorted an input list, which changes the package's derivation (its inputs are searched in order), so it is built again; put a comment in the list to keep an order that matters`);
      }
    }
    return dry && changed ? 1 : 0;
  },
};
