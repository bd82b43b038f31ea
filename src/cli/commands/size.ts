/**
 * `tsdsl size`: how much disk the closure of built packages or store items takes, item by
 * item, as `guix size` prints it: each item's own size (its NAR size in the store database)
 * and the size of its own closure, largest closure first, with each item's share of the whole.
 */
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { out } from '../command.js';
import { packageOptions } from '../packages.js';
import { mib, storeArguments } from './gc.js';
import { closureSizes, type SizeEntry } from '../../store/gc.js';

/** The table `guix size` prints: store item, total, self (MiB), self as a percentage of the whole. */
export function formatSizes({ items, total }: { items: readonly SizeEntry[]; total: number }): string {
  const width = Math.max('store item'.length, ...items.map((i) => i.path.length));
  // The last column is the item's own size as a share of the whole closure's.
  const lines = [`${'store item'.padEnd(width)}  ${'total MiB'.padStart(9)}  ${'self MiB'.padStart(9)}  ${'share'.padStart(6)}`];
  for (const i of items) {
    const share = total > 0 ? ((100 * i.self) / total).toFixed(1) : '0.0';
    lines.push(`${i.path.padEnd(width)}  ${mib(i.total).padStart(9)}  ${mib(i.self).padStart(9)}  ${share.padStart(5)}%`);
  }
  lines.push(`total: ${mib(total)} MiB`);
  return lines.join('\n') + '\n';
}

export const command: Command = {
  name: 'size',
  summary: 'show the size of the closure of packages or store items',
  usage: 'tsdsl size [OPTION]... PACKAGE-or-PATH...',
  details:
    'Prints every item of the closure of the given packages or store items (what they refer to,\n' +
    'recursively) with the size of its own closure (total) and its own size (self), in MiB, largest\n' +
    'closure first, and its own size as a share of the whole (share); then the whole. Sizes are NAR sizes from the store\n' +
    'database of the store at TSDSL_ROOT (default ~/.local/share/tsdsl). Packages must be built first\n' +
    '(`tsdsl build PACKAGE`). A PACKAGE may end in one of its outputs, as in Guix (my-solver:doc): then\n' +
    'the closure of that output alone.',
  examples: [
    ['tsdsl size hwloc', "hwloc's runtime closure, item by item"],
    ['tsdsl size ./result', 'the closure of the item ./result points at'],
    ['tsdsl size --json hwloc | jq .total', 'the whole closure size in bytes'],
  ],
  options: [{ name: 'json', kind: 'boolean', description: 'print {"items": [{path, self, total}], "total"} with sizes in bytes' }, ...packageOptions],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl size: no package or store path given; try `tsdsl size hwloc`');
    const { openStore } = await import('../../store/store.js');
    // Only read: another user's store (or a read-only one) is read, not refused.
    const store = openStore({ existing: true, readOnly: 'if-not-writable' });
    try {
      const items = await storeArguments(args, store, args.positionals, { command: 'size', requireValid: true });
      const sizes = closureSizes(store, items.flatMap((i) => i.paths));
      out(args.values['json'] ? JSON.stringify(sizes, null, 2) + '\n' : formatSizes(sizes));
      return 0;
    } finally {
      store.close();
    }
  },
};
