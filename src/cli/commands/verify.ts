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
    'there is any. With --repair, the missing and damaged items are forgotten, with every item that\n' +
    'refers to them, and what is left of their files deleted: the next build makes them again, at the\n' +
    'same paths. Unregistered entries in the store directory (what a killed writer left) are noted,\n' +
    'not counted as problems: `tsdsl gc` deletes them once they are an hour old. The store is the\n' +
    'one at TSDSL_ROOT (default ~/.local/share/tsdsl); another user\'s, or one you cannot write, is\n' +
    'checked read-only (--repair refuses it).',
  examples: [
    ['tsdsl verify', 'quick check: every valid item is present'],
    ['tsdsl verify --check-contents', 'also rehash every item and compare with the database'],
    ['tsdsl verify --check-contents --repair && tsdsl build hwloc', 'forget what is damaged, then build it again'],
  ],
  options: [
    { name: 'check-contents', kind: 'boolean', description: 'rehash every item and compare with the database' },
    { name: 'repair', kind: 'boolean', description: 'forget missing and damaged items (and what refers to them), for the next build to make again' },
  ],
  async run(args) {
    if (args.positionals.length) {
      throw new TsdslError(`tsdsl verify: unexpected argument \`${args.positionals[0]}\`: verify checks the whole store and takes no path or package (see \`tsdsl verify --help\`)`);
    }
    const { openStore } = await import('../../store/store.js');
    const { isDamagedItem, repairStore, verifyStore } = await import('../../store/gc.js');
    // Checking only reads: another user's store (or a read-only one) is read; --repair writes.
    const store = openStore({ existing: true, ...(args.values['repair'] ? {} : { readOnly: 'if-not-writable' as const }) });
    try {
      const { checked, problems } = await verifyStore(store, { checkContents: Boolean(args.values['check-contents']) });
      out(problems.map((p) => `${p.message}\n`).join(''));
      const what = args.values['check-contents'] ? 'presence and contents' : 'presence';
      err(`checked ${what} of ${checked} item${checked === 1 ? '' : 's'}: ${problems.length === 0 ? 'no problems' : `${problems.length} problem${problems.length === 1 ? '' : 's'}`}`);
      // Not a problem (nothing reads them), but taking space: what a killed writer left.
      const leftovers = store.leftovers(0);
      if (leftovers.length) {
        err(
          `note: ${leftovers.length} unregistered entr${leftovers.length === 1 ? 'y' : 'ies'} in the store directory (${leftovers.slice(0, 3).map((p) => p.slice(store.storeDir.length + 1)).join(', ')}${leftovers.length > 3 ? ', …' : ''}): ` +
            `left by an interrupted build or \`build -d\`, or being added right now; nothing uses ${leftovers.length === 1 ? 'it' : 'them'}, and \`tsdsl gc\` deletes ${leftovers.length === 1 ? 'it once it is' : 'those'} an hour old`,
        );
      }
      const damaged = problems.filter(isDamagedItem).length;
      const database = problems.length - damaged;
      const databaseAdvice =
        'A dangling reference or root means the database was changed by hand or damaged: restore it from a backup, or move the store away and build again';
      if (args.values['repair'] && damaged) {
        const { forgotten, busy } = repairStore(store, problems);
        out(forgotten.map((p) => `forgotten: ${p}\n`).join(''));
        err(
          `repaired: forgot ${forgotten.length} item${forgotten.length === 1 ? '' : 's'} (${damaged} missing or damaged${forgotten.length > damaged ? `, and ${forgotten.length - damaged} that refer${forgotten.length - damaged === 1 ? 's' : ''} to ${damaged === 1 ? 'it' : 'them'}` : ''}); building again makes them at the same paths` +
            (busy.length ? `; ${busy.length} could not be forgotten, being built or added meanwhile (${busy.slice(0, 3).join(', ')}): run again once that is done` : ''),
        );
        if (database) err(databaseAdvice);
        return busy.length || database ? 1 : 0;
      }
      // What to do, said once after the list (it was only in --help).
      if (problems.length) {
        err(
          (damaged ? 'Nothing was repaired. A missing or damaged item: `tsdsl verify --repair` forgets it and the items that refer to it, for the next build to make again. ' : '') +
            (database ? databaseAdvice : ''),
        );
      }
      return problems.length === 0 ? 0 : 1;
    } finally {
      store.close();
    }
  },
};
