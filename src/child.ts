/**
 * Programs tsdsl starts that should not outlive it: a compressor or mksquashfs writing a pack
 * goes on for minutes after a `kill -9` of tsdsl (which runs no clean-up) unless the kernel is
 * told to kill it with its parent. util-linux's `setpriv --pdeathsig KILL` does that (the
 * sandbox uses it too); without setpriv, the program is started as it is.
 */
import { spawnSync } from 'node:child_process';
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

/** Where system programs are, searched after PATH: an unprivileged user's PATH often lacks the sbin ones. */
export const SYSTEM_DIRS: readonly string[] = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

let setpriv: string | null | undefined;

/**
 * util-linux's setpriv when it has `--pdeathsig` (an older setpriv, on an old cluster's OS,
 * would refuse the option and start nothing), else undefined. Probed once per process.
 */
export function setprivWithPdeathsig(): string | undefined {
  if (setpriv === undefined) {
    const found = findOnPath('setpriv', undefined, SYSTEM_DIRS);
    setpriv = found !== undefined && spawnSync(found, ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') ? found : null;
  }
  return setpriv ?? undefined;
}

/**
 * The command line that starts `command args` so that it gets SIGKILL when this process dies.
 * A command that is not found is left as it is, for the caller's spawn to fail and say so.
 */
export function dyingWithParent(command: string, args: readonly string[]): [string, string[]] {
  const killer = setprivWithPdeathsig();
  const resolved = command.includes('/') ? command : findOnPath(command);
  if (killer === undefined || resolved === undefined) return [command, [...args]];
  return [killer, ['--pdeathsig', 'KILL', '--', resolved, ...args]];
}
