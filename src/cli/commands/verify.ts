/**
 * `tsdsl verify`: check the store against its database (`verifyStore` in store/gc.ts) and
 * report each problem on one line: a valid item whose files are missing, one whose contents no
 * longer hash to the recorded NAR hash (`--check-contents`), a dangling reference or root.
 */
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { err, out } from '../command.js';

export const command: Command = {
  name: 'verify',
  summary: 'check the store for missing or corrupted items',
  usage: 'tsdsl verify [OPTION]...',
  details:
    'Checks that every valid store item exists on disk, that references and roots name valid items,\n' +
    'and, with --check-contents, that every item still hashes to the NAR hash recorded when it was\n' +
    'added (this reads the whole store). Prints one line per problem and exits with status 1 if\n' +
    'there is any. Nothing is repaired: rebuild or re-add a damaged item after collecting it. The\n' +
    'store is the one at TSDSL_ROOT (default ~/.local/share/tsdsl).',
  examples: [
    ['tsdsl verify', 'quick check: every valid item is present'],
    ['tsdsl verify --check-contents', 'also rehash every item and compare with the database'],
  ],
  options: [{ name: 'check-contents', kind: 'boolean', description: 'rehash every item and compare with the database' }],
  async run(args) {
    if (args.positionals.length) {
      throw new TsdslError(`tsdsl verify: unexpected argument \`${args.positionals[0]}\`: verify checks the whole store and takes no path or package (see \`tsdsl verify --help\`)`);
    }
    const { openStore } = await import('../../store/store.js');
    const { verifyStore } = await import('../../store/gc.js');
    const store = openStore({ existing: true });
    try {
      const { checked, problems } = await verifyStore(store, { checkContents: Boolean(args.values['check-contents']) });
      out(problems.map((p) => `${p.message}\n`).join(''));
      const what = args.values['check-contents'] ? 'presence and contents' : 'presence';
      err(`checked ${what} of ${checked} item${checked === 1 ? '' : 's'}: ${problems.length === 0 ? 'no problems' : `${problems.length} problem${problems.length === 1 ? '' : 's'}`}`);
      // What to do, said once after the list (it was only in --help).
      if (problems.length) {
        err(
          'Nothing was repaired. A missing or damaged item: drop the roots that keep it and the items that refer to it, run `tsdsl gc`, and build again. ' +
            'A dangling reference or root means the database was changed by hand or damaged: restore it from a backup, or move the store away and build again',
        );
      }
      return problems.length === 0 ? 0 : 1;
    } finally {
      store.close();
    }
  },
};
