/**
 * The `tsdsl` entry point: finds the command, loads only its module (so `tsdsl graph` never
 * pays for ts-morph or SQLite), parses its options from its table, and turns TsdslErrors into
 * one-paragraph messages and exit codes. Stack traces only with `--debug`.
 */
import { readFileSync } from 'node:fs';
import { TsdslError, currentDirectory, didYouMean, isTsdslError, systemFailure } from '../errors.js';
import { stdoutData, type Command } from './command.js';
import { commonOptions, formatOptions, parseArgs } from './options.js';

/** The command table: name, one-line summary, and a lazy loader. */
export const commands: ReadonlyArray<{ name: string; summary: string; load: () => Promise<{ command: Command }> }> = [
  { name: 'graph', summary: 'draw the dependency graph of packages (DOT, JSON, Mermaid, …)', load: () => import('./commands/graph.js') },
  { name: 'show', summary: 'show details of packages', load: () => import('./commands/show.js') },
  { name: 'search', summary: 'search packages by name, synopsis and description', load: () => import('./commands/search.js') },
  { name: 'build', summary: 'build packages, or write their derivations (-d)', load: () => import('./commands/build.js') },
  { name: 'derivation', summary: 'show the derivations of packages as JSON', load: () => import('./commands/derivation.js') },
  { name: 'gc', summary: 'delete unused store items, or query references, referrers, roots', load: () => import('./commands/gc.js') },
  { name: 'size', summary: 'show the disk size of the closure of packages or store items', load: () => import('./commands/size.js') },
  { name: 'verify', summary: 'check the store for missing or corrupted items', load: () => import('./commands/verify.js') },
  { name: 'hash', summary: 'print the sha256 of files or directories, as package sources pin them', load: () => import('./commands/hash.js') },
  { name: 'log', summary: 'show the build log of packages or store items', load: () => import('./commands/log.js') },
  { name: 'shell', summary: 'a shell or command with packages from the store, built on demand', load: () => import('./commands/shell.js') },
  { name: 'run', summary: 'run a command from a pack without root', load: () => import('./commands/run.js') },
  { name: 'pack', summary: 'make a reproducible bundle: tarball, Docker image, squashfs', load: () => import('./commands/pack.js') },
  { name: 'refresh', summary: "list packages with newer releases in Debian's source index, or update their definitions", load: () => import('./commands/refresh.js') },
  { name: 'import', summary: "write a package definition from Debian's source index", load: () => import('./commands/import.js') },
  { name: 'edit', summary: 'open the definition of a package in $VISUAL or $EDITOR', load: () => import('./commands/edit.js') },
  { name: 'lint', summary: 'check package definitions for common mistakes', load: () => import('./commands/lint.js') },
  { name: 'style', summary: 'put package files in canonical form (field order, sorted inputs)', load: () => import('./commands/style.js') },
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: tsdsl COMMAND [OPTION]... [ARG]...',
    'Typed package definitions, dependency graphs, reproducible builds and packs.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  -h, --help            show this help (or `tsdsl COMMAND --help`)',
    '  -V, --version         show the version',
    '      --help-transform  list the package transformation options',
    '',
    'Examples:',
    '  tsdsl graph mumps | dot -Tsvg > mumps.svg',
    '  tsdsl show hwloc',
    "  tsdsl search 'sparse.*solver'",
    '',
    'Environment:',
    '  TSDSL_PACKAGE_PATH    extra package directories, colon-separated',
    '  TSDSL_ROOT            where the store and its database live (default $XDG_DATA_HOME/tsdsl or ~/.local/share/tsdsl)',
    '  TSDSL_STORE_DIR       the logical store directory (default /tsdsl/store)',
    '  TSDSL_DOWNLOAD_CACHE  fetched sources, by hash (default $XDG_CACHE_HOME/tsdsl/downloads or ~/.cache/…)',
    '  TSDSL_PACK_CACHE      where tsdsl run unpacks packs (default $XDG_CACHE_HOME/tsdsl/packs or ~/.cache/…)',
    'and more in docs/cli.md (Environment).',
    '',
  ].join('\n');
}

/** Full help of one command. */
export function commandHelp(c: Command): string {
  const lines = [`Usage: ${c.usage}`, c.summary.charAt(0).toUpperCase() + c.summary.slice(1) + '.', ''];
  if (c.details) lines.push(c.details, '');
  lines.push(formatOptions([...c.options, ...commonOptions]));
  if (c.examples.length) {
    lines.push('Examples:');
    for (const [cmd, why] of c.examples) lines.push(`  ${cmd}`, `      ${why}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Run the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // tsdsl's own --debug: before any `--` (after it, the words belong to the program run).
  const dashes = argv.indexOf('--');
  const debug = (dashes < 0 ? argv : argv.slice(0, dashes)).includes('--debug');
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') {
      if (stdoutData.what === undefined) process.exit(0);
      process.stderr.write(`tsdsl: error: the reader of standard output stopped before the whole ${stdoutData.what} was written (EPIPE); what it got is not whole\n`);
      process.exit(1);
    }
    // A full disk (> /dev/full), a closed file: said as any error is, not as a stack trace.
    process.stderr.write(`tsdsl: error: cannot write to standard output: ${e.code ?? e.message}${e.code === 'ENOSPC' ? ' (no space left on the device)' : ''}\n`);
    process.exit(1);
  });
  // A reader of standard error that stopped (`2>&1 | head -1`) is no reason to stop a build or a
  // run halfway, leaving its scratch directories: what would have been said is dropped.
  process.stderr.on('error', () => {});
  // The exit code of an error: 1, or 2 for a command whose exit 1 is a result (lint, search, style).
  let errorCode = 1;
  try {
    // A deleted current directory would fail deep inside: said once, here.
    currentDirectory();
    const [first, ...rest] = argv;
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      // `tsdsl help graph` and `tsdsl --help graph`: graph's help.
      if (rest[0] && !rest[0].startsWith('-')) return main([rest[0], '--help']);
      // Without a command it is a usage error: the help goes to stderr (as a usage error's
      // message does), so `tsdsl > file` with a forgotten command leaves no help in the file.
      (first === undefined ? process.stderr : process.stdout).write(mainHelp());
      return first === undefined ? 2 : 0;
    }
    if (first === '--version' || first === '-V') {
      process.stdout.write(`tsdsl ${version()}\n`);
      return 0;
    }
    if (first === '--help-transform') {
      const { transformHelp } = await import('./transform-options.js');
      process.stdout.write(transformHelp());
      return 0;
    }
    // --debug may come first (`tsdsl --debug graph x`), as it may anywhere after the command.
    if (first === '--debug') return main(rest.length ? [rest[0]!, '--debug', ...rest.slice(1)] : []);
    const entry = commands.find((c) => c.name === first);
    if (!entry) {
      const globals = ['--help', '--version', '--help-transform', '--debug'];
      throw new TsdslError(
        first.startsWith('-')
          ? `unknown option \`${first}\` before the command${didYouMean(first, globals)} (usage: tsdsl COMMAND [OPTION]...; see tsdsl --help)`
          : `unknown command \`${first}\`${didYouMean(first, commands.map((c) => c.name))} (commands: ${commands.map((c) => c.name).join(', ')})`,
      );
    }
    const { command } = await entry.load();
    errorCode = command.exitOneIsResult ? 2 : 1;
    const args = parseArgs(rest, [...command.options, ...commonOptions], command.name, command.takesCommand === true);
    if (args.values['help']) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    if (args.rest.length && !command.takesCommand) {
      const without = [...rest.slice(0, rest.indexOf('--')), ...rest.slice(rest.indexOf('--') + 1)];
      throw new TsdslError(
        `tsdsl ${command.name} runs no command, so \`-- ${args.rest.join(' ')}\` means nothing to it; give ${args.rest.length === 1 ? 'that word' : 'those words'} without \`--\` (\`tsdsl ${command.name} ${without.join(' ')}\`)`,
      );
    }
    return await command.run(args);
  } catch (e) {
    if (isTsdslError(e)) {
      process.stderr.write(`tsdsl: error: ${e.message}\n`);
      // The frames only: the message was just said.
      const head = `${e.name}: ${e.message}\n`;
      if (debug) process.stderr.write(`${e.stack?.startsWith(head) ? e.stack.slice(head.length) : e.stack}\n`);
      return (e as TsdslError).exitCode ?? errorCode;
    }
    // A full disk, a damaged or locked database: the machine's trouble, said with the way out.
    const failure = systemFailure(e, /^SQLITE_/.test(String((e as { code?: unknown }).code)) ? await databaseOfEnv() : undefined, argv[0]);
    if (failure) {
      process.stderr.write(`tsdsl: error: ${failure.message}\n`);
      if (debug) process.stderr.write(`${(e as Error).stack}\n`);
      return 1;
    }
    process.stderr.write(`tsdsl: internal error (please report it): ${debug ? (e as Error).stack : (e as Error).message}\n`);
    if (!debug) process.stderr.write('Run again with --debug for the stack trace.\n');
    return 70;
  }
}

/** The store database the environment names, for an error about it (undefined if TSDSL_ROOT is bad). */
async function databaseOfEnv(): Promise<string | undefined> {
  try {
    const { storeRootFromEnv } = await import('../store/store.js');
    return `${storeRootFromEnv()}/var/db.sqlite`;
  } catch {
    return undefined;
  }
}
