/**
 * `tsdsl edit`: open the file defining a package at its line, in $VISUAL or $EDITOR (Guix's
 * `guix edit`). The default collection runs from dist/, but package locations already name the
 * TypeScript sources (src/dsl/location.ts maps them back), so the editor gets packages/x.ts.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { TsdslError } from '../../errors.js';
import { formatLocation } from '../../dsl/location.js';
import { fullName } from '../../dsl/package.js';
import type { Command } from '../command.js';
import { err, out } from '../command.js';
import { loadOptions } from '../options.js';
import { resolveWords, withCollectionFor } from '../packages.js';
import { signalExitCode } from '../../signals.js';

/** Editors that take `--goto FILE:LINE:COLUMN` rather than the common `+LINE FILE`. */
const GOTO_EDITORS = ['code', 'codium', 'code-insiders'];

/** The editor's arguments to open each location: `+LINE FILE` (vi, emacs, nano, …) or `--goto`. */
export function editorArguments(editor: string, locations: ReadonlyArray<{ file: string; line: number; column: number }>): string[] {
  const name = basename(editor);
  if (GOTO_EDITORS.includes(name)) return locations.flatMap((l) => ['--goto', `${l.file}:${l.line}:${l.column}`]);
  return locations.flatMap((l) => [`+${l.line}`, l.file]);
}

/**
 * Splits an editor variable into words as a shell would, without running one: blanks separate
 * words, quotes ('…' and "…") keep blanks, a backslash outside single quotes keeps the next
 * character. So `"/opt/My Editor/ed" -w` is the program `/opt/My Editor/ed` and `-w`.
 */
export function editorWords(text: string, variable: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === '"' || c === "'") quote = c;
    else if (c === '\\' && i + 1 < text.length) word += text[++i];
    else word += c;
  }
  if (quote) throw new TsdslError(`${variable} has an unclosed ${quote} quote: ${text}; close it, or set ${variable} to the editor's command without quotes`);
  if (inWord) words.push(word);
  return words;
}

export const command: Command = {
  name: 'edit',
  summary: 'open the definition of packages in $VISUAL or $EDITOR',
  usage: 'tsdsl edit [OPTION]... PACKAGE...',
  details:
    'Starts $VISUAL (or $EDITOR) on the file that defines each PACKAGE, at its line, as `EDITOR +LINE\n' +
    'FILE` (`--goto FILE:LINE:COLUMN` for VS Code). With neither variable set, or with --print,\n' +
    'prints FILE:LINE for each package instead.',
  examples: [
    ['tsdsl edit hwloc', 'open hwloc\'s definition in your editor'],
    ['EDITOR=emacsclient tsdsl edit mumps scotch', 'both definitions in Emacs'],
    ['tsdsl edit --print pt-scotch', 'just print packages/maths.ts:LINE'],
  ],
  options: [{ name: 'print', short: 'p', kind: 'boolean', description: 'print FILE:LINE instead of starting an editor' }, ...loadOptions],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl edit: no package given; try `tsdsl edit hwloc` (see --help)');
    const packages = await withCollectionFor(args, [], (c) => resolveWords(c, args.positionals));
    const locations = packages.map((p) => {
      const l = p.location;
      if (!l) throw new TsdslError(`cannot tell where \`${fullName(p)}\` is defined (it was not made by definePackage or inherit in a file)`);
      return l;
    });
    const editor = (process.env['VISUAL'] || process.env['EDITOR'] || '').trim();
    if (!editor || args.values['print']) {
      out(locations.map((l) => `${formatLocation(l)}\n`).join(''));
      return 0;
    }
    // Like Guix, the variable may hold a command with arguments (`emacsclient -nw`), quoted as for a shell.
    const variable = process.env['VISUAL'] ? 'VISUAL' : 'EDITOR';
    const [cmd, ...cmdArgs] = editorWords(editor, variable) as [string, ...string[]];
    // The default collection runs compiled from dist/: a change to packages/*.ts is seen once it is rebuilt.
    const files = [...new Set(locations.map((l) => l.file))];
    const mtimeOf = (f: string) => {
      try {
        return statSync(f).mtimeMs;
      } catch {
        return undefined;
      }
    };
    const before = files.map(mtimeOf);
    const r = spawnSync(cmd, [...cmdArgs, ...editorArguments(cmd, locations)], { stdio: 'inherit' });
    if (r.error) throw new TsdslError(`cannot start the editor \`${cmd}\` (from ${variable}): ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message}; set VISUAL or EDITOR to an installed editor, or use --print`);
    // An editor that fails (or is killed) is said: its own message, if any, may not name it.
    if (r.status !== 0) {
      const how = r.status !== null ? `exited with status ${r.status}` : `was killed by ${r.signal}`;
      throw new TsdslError(`the editor \`${cmd}\` (from ${variable}) ${how}; check ${variable}, or use --print for FILE:LINE`, { exitCode: r.status ?? signalExitCode(r.signal) });
    }
    const saved = files.filter((f, i) => mtimeOf(f) !== before[i]);
    if (saved.length) for (const note of (await import('../../edit/source.js')).rebuildNotes(saved)) err(`tsdsl: note: ${note}`);
    return 0;
  },
};
