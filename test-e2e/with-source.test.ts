/**
 * `tsdsl build hwloc --with-source=…` with a locally modified tarball really rebuilds: hwloc's
 * own tarball is repacked with one changed line, built (configure, make, make check, install)
 * in the sandbox, and the change shows in the installed program's output.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, physical, runInClosure, tsdsl } from './helpers.js';

function sh(cmd: string, args: readonly string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

describe('--with-source with a local tarball', () => {
  it('rebuilds hwloc from a modified tarball, and the change is in the output', () => {
    // The pristine tarball, as the build uses it (-S: the source after unpack and patches).
    const [pristine] = build(['hwloc'], ['-S']);
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-with-source-'));
    sh('tar', ['-xf', physical(pristine!), '-C', dir]);
    const file = join(dir, 'hwloc-2.9.0/utils/lstopo/lstopo.c');
    const text = readFileSync(file, 'utf8');
    const changed = text.replace('printf("%s %s\\n", callname, HWLOC_VERSION);', 'printf("%s %s (mine)\\n", callname, HWLOC_VERSION);');
    expect(changed).not.toBe(text);
    writeFileSync(file, changed);
    sh('tar', ['-czf', 'hwloc-2.9.0-mine.tar.gz', 'hwloc-2.9.0'], dir);

    const plain = tsdsl(['build', '-d', 'hwloc']).stdout.trim();
    const mine = tsdsl(['build', '-d', 'hwloc', '--with-source=./hwloc-2.9.0-mine.tar.gz'], { cwd: dir }).stdout.trim();
    expect(mine).toMatch(/\.drv$/);
    expect(mine).not.toBe(plain);

    const r = tsdsl(['build', '-q', '--cores=2', 'hwloc', '--with-source=./hwloc-2.9.0-mine.tar.gz'], { cwd: dir });
    expect(r.code).toBe(0);
    const out = r.stdout.trim();
    const run = runInClosure([out], [`${out}/bin/lstopo-no-graphics`, '--version']);
    expect(run.stdout.trim()).toBe('lstopo-no-graphics 2.9.0 (mine)');
    rmSync(dir, { recursive: true, force: true });
  });
});
