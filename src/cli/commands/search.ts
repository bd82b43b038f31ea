/** `tsdsl search`: packages whose name, synopsis or description match every regexp given. */
import { TsdslError } from '../../errors.js';
import { formatLocation } from '../../dsl/location.js';
import type { Command } from '../command.js';
import { err, out } from '../command.js';
import { collectionFrom } from '../packages.js';
import { loadOptions } from '../options.js';
import { packageJson, packagesJsonText } from './show.js';

export const command: Command = {
  name: 'search',
  summary: 'search packages by name, synopsis and description',
  usage: 'tsdsl search [OPTION]... REGEXP...',
  details:
    'Every REGEXP must match (case-insensitively). Results are ranked: a match in the name counts most,\nthen the synopsis, then the description; a match that starts a word (`mpi` in "MPI library") counts\ntwice one inside a word (`mpi` in "compiler"). Every version of a package is listed. Exits with 1\nwhen nothing matches (`[]` with --json), as grep does, and 2 on an error (an invalid REGEXP).',
  exitOneIsResult: true,
  examples: [
    ["tsdsl search 'sparse.*solver'", 'sparse direct solvers'],
    ['tsdsl search mpi partition', 'packages matching both words'],
    ['tsdsl search blas --json', 'as JSON'],
  ],
  options: [{ name: 'json', kind: 'boolean', description: 'print JSON' }, ...loadOptions],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError("tsdsl search: no regular expression given; try `tsdsl search 'sparse.*solver'`");
    const patterns = args.positionals.map((p) => {
      // Unicode mode first, so `\p{L}` is a letter (without it, the text `p{L}`); a pattern only
      // the older syntax takes (`\-` outside a class, say) is read as that.
      try {
        return new RegExp(p, 'iu');
      } catch {
        // not a Unicode pattern
      }
      try {
        return new RegExp(p, 'i');
      } catch (e) {
        throw new TsdslError(`tsdsl search: \`${p}\` is not a valid regular expression: ${(e as Error).message}`);
      }
    });
    const collection = await collectionFrom(args);
    const hits = collection.search(patterns);
    if (args.values['json']) {
      out(packagesJsonText(hits.map((h) => ({ ...packageJson(h.pkg, collection), relevance: h.score }))));
      // `[]` and exit code 1, as without --json: a script can test either.
      return hits.length ? 0 : 1;
    }
    if (hits.length === 0) {
      // A result (exit 1, as grep's), not an error (those exit 2): said on stderr, without `error:`.
      err(`tsdsl: no package matches ${args.positionals.map((p) => `\`${p}\``).join(' and ')} (in names, synopses and descriptions; the expressions are case-insensitive regular expressions)`);
      return 1;
    }
    out(
      hits
        .map(({ pkg, score }) =>
          [`name: ${pkg.name}`, `version: ${pkg.version}`, `location: ${formatLocation(pkg.location)}`, `synopsis: ${pkg.synopsis}`, `relevance: ${score}`].join('\n'),
        )
        .join('\n\n') + '\n',
    );
    return 0;
  },
};
