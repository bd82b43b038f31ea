/**
 * The transformation options as CLI options: one table (src/transform/options.ts) turned into
 * option specs that every package-taking command appends to its own.
 */
import type { OptionSpec } from './options.js';
import { transformations } from '../transform/options.js';

/** `--with-input=…` and friends, for any command that takes packages. */
export const transformOptionSpecs: readonly OptionSpec[] = transformations.map((t) => ({
  name: t.name,
  kind: t.takesValue ? ('string' as const) : ('boolean' as const),
  multiple: t.takesValue,
  arg: t.arg,
  ...(t.optionalValue !== undefined ? { optionalValue: t.optionalValue } : {}),
  description: t.description,
  group: 'Package transformation options',
}));

/** What `tsdsl --help-transform` prints. */
export function transformHelp(): string {
  // Written as each command's --help writes it (`--tune[=CPU]` when the value may be left out).
  const form = (t: (typeof transformations)[number]) => `--${t.name}${!t.takesValue ? '' : t.optionalValue !== undefined ? `[=${t.arg}]` : `=${t.arg}`}`;
  const width = Math.max(...transformations.map((t) => form(t).length));
  const lines = [
    'Package transformation options (build, derivation, gc, graph, log, pack, shell, show and size accept',
    'them; they apply in command-line order):',
    '',
  ];
  for (const t of transformations) lines.push(`  ${form(t).padEnd(width)}  ${t.description}`);
  lines.push('', 'Examples:', '  tsdsl graph mumps --with-input=scotch=pt-scotch', '  tsdsl show hwloc --with-source=./hwloc-2.0.0rc1.tar.gz   # a tarball you have', '');
  return lines.join('\n');
}
