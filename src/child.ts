/**
 * Programs tsdsl starts that should not outlive it: a compressor or mksquashfs writing a pack
 * goes on for minutes after a `kill -9` of tsdsl (which runs no clean-up) unless the kernel is
 * told to kill it with its parent. util-linux's `setpriv --pdeathsig KILL` does that (the
 * sandbox uses it too); without setpriv, the program is started as it is.
 */
import { statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** The first `name` on PATH (absolute entries only), then in `extra`, that is a file. */
export function findOnPath(name: string, path = process.env['PATH'] ?? '', extra: readonly string[] = []): string | undefined {
  for (const dir of [...path.split(delimiter).filter((d) => isAbsolute(d)), ...extra]) {
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

let setpriv: string | null | undefined;

/**
 * The command line that starts `command args` so that it gets SIGKILL when this process dies.
 * A command that is not found is left as it is, for the caller's spawn to fail and say so.
 */
export function dyingWithParent(command: string, args: readonly string[]): [string, string[]] {
  setpriv ??= findOnPath('setpriv', undefined, ['/usr/bin', '/bin']) ?? null;
  const resolved = command.includes('/') ? command : findOnPath(command);
  if (setpriv === null || resolved === undefined) return [command, [...args]];
  return [setpriv, ['--pdeathsig', 'KILL', '--', resolved, ...args]];
}
