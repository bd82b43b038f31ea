/**
 * `tsdsl pack` output, through the real binary on hwloc from the shared test store: on a
 * terminal (a pseudo-terminal made by util-linux `script`) a redrawn `packing …%` line; in a
 * pipe only the last lines (items packed on stderr, `PATH<TAB>SIZE` on stdout); and the entry
 * point checked before anything is written.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSandboxSupport } from '../../src/build/sandbox.js';
import { removeTree } from '../../src/pack/compress.js';
import { PID_NAMESPACE } from '../../src/store/lock.js';
import { BIN, tsdsl } from '../cli/helpers.js';

const root = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
const env = { TSDSL_ROOT: root };
const dir = mkdtempSync(join(tmpdir(), 'tsdsl-pack-cli-'));
afterAll(() => removeTree(dir));
const hasScript = spawnSync('script', ['--version']).status === 0;

describe.skipIf(!checkSandboxSupport().ok)('tsdsl pack output', () => {
  it('is quiet in a pipe: the last line is the pack and its size', () => {
    const r = tsdsl(['pack', 'hwloc', '-S', '/bin=bin', '-o', join(dir, 'p.tar.gz'), '-j2'], { env, timeoutMs: 1_100_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${join(dir, 'p.tar.gz')}\t${r.stdout.split('\t')[1]}`);
    expect(r.stdout).toMatch(/\t\d+\.\d MiB\n$/);
    expect(r.stderr).not.toMatch(/packing|\r/);
  }, 1_200_000);

  it.skipIf(!hasScript)('draws a progress line on a terminal, for tarballs and squashfs', () => {
    for (const [format, file] of [['tarball', 'tty.tar.gz'], ['squashfs', 'tty.squashfs']] as const) {
      const command = `${process.execPath} ${BIN} pack -f ${format} hwloc -S /bin=bin -o ${join(dir, file)}`;
      const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env, CI: '', TSDSL_PACKAGE_PATH: '' }, timeout: 600_000 });
      expect(r.status, r.stdout).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`\\r\\x1b\\[Kpacking ${format}: 100%`));
      expect(r.stdout).toMatch(new RegExp(`${file}\\t\\d+\\.\\d MiB\\r?\\n$`));
    }
    // A terminal that cannot redraw (TERM=dumb) gets plain lines.
    const command = `${process.execPath} ${BIN} pack hwloc -S /bin=bin -o ${join(dir, 'dumb.tar.gz')}`;
    const dumb = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env, CI: '', TERM: 'dumb', TSDSL_PACKAGE_PATH: '' }, timeout: 600_000 });
    expect(dumb.status, dumb.stdout).toBe(0);
    expect(dumb.stdout).not.toMatch(/\x1b\[K/);
  }, 1_200_000);

  it('-o - writes the same bytes to standard output, and refuses a terminal or an empty name', () => {
    const tmp = mkdtempSync(join(dir, 'tmp-'));
    // What a `pack -o -` killed with -9 left: removed by the next one.
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout);
    mkdirSync(join(tmp, `tsdsl-pack-${dead}-ns${PID_NAMESPACE}-AbC123`));
    writeFileSync(join(tmp, `tsdsl-pack-${dead}-ns${PID_NAMESPACE}-AbC123`, 'pack'), 'partial');
    const piped = spawnSync(process.execPath, [BIN, 'pack', 'hwloc', '-S', '/bin=bin', '-o', '-'], { env: { ...process.env, ...env, TSDSL_PACKAGE_PATH: '', TMPDIR: tmp }, timeout: 600_000, maxBuffer: 1 << 30 });
    expect(piped.status, String(piped.stderr)).toBe(0);
    expect(String(piped.stderr)).toMatch(/store items packed, \d+\.\d MiB written to standard output\n$/);
    expect(createHash('sha256').update(piped.stdout).digest('hex')).toBe(createHash('sha256').update(readFileSync(join(dir, 'p.tar.gz'))).digest('hex'));
    // The temporary copy is gone.
    expect(readdirSync(tmp)).toEqual([]);
    // A reader that stops early gets an error, not a quiet success (`| ssh host tar x` cut short).
    const cut = spawnSync('bash', ['-c', `${process.execPath} ${BIN} pack hwloc -S /bin=bin -o - | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', env: { ...process.env, ...env, TSDSL_PACKAGE_PATH: '', TMPDIR: tmp }, timeout: 600_000 });
    expect(cut.stdout).toBe('1\n');
    // (After the load check's warning about hwloc's #!/bin/sh scripts.)
    expect(cut.stderr).toMatch(/(^|\n)tsdsl: error: the reader of standard output stopped before the whole pack was written \(EPIPE\); what it got is not whole\n$/);
    expect(readdirSync(tmp)).toEqual([]);
    if (hasScript) {
      const tty = spawnSync('script', ['-qec', `${process.execPath} ${BIN} pack hwloc -o -`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env, TSDSL_PACKAGE_PATH: '' }, timeout: 600_000 });
      expect(tty.status).toBe(1);
      expect(tty.stdout).toMatch(/-o -: standard output is a terminal; redirect it/);
    }
    expect(tsdsl(['pack', 'hwloc', '-o', ''], { env }).stderr).toMatch(/-o: the file name is empty/);
  }, 600_000);

  it('warns when -o names another compression than the pack has', () => {
    const out = join(dir, 'plain.tar.gz');
    const r = tsdsl(['pack', 'hwloc', '-C', 'none', '-o', out], { env, timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/-o .*plain\.tar\.gz: the name ends as a gzip tar would, but the pack is not compressed; name it .*plain\.tar, or choose -C gzip/);
    expect(tsdsl(['pack', 'hwloc', '-C', 'none', '-o', join(dir, 'plain.tar.xz')], { env, timeoutMs: 600_000 }).stderr).toMatch(/the name ends as an xz tar would/);
    const agree = tsdsl(['pack', 'hwloc', '-C', 'xz', '-o', join(dir, 'x.tar.xz')], { env, timeoutMs: 600_000 });
    expect(agree.stderr).not.toMatch(/the name ends/);
    const image = tsdsl(['pack', '-f', 'squashfs', 'hwloc', '-o', join(dir, 'image.tar.gz')], { env, timeoutMs: 600_000 });
    expect(image.code, image.stderr).toBe(0);
    expect(image.stderr).toMatch(/-o .*image\.tar\.gz: the name ends as a gzip tar would, but the pack is not a tar archive; name it .*image\.squashfs/);
  }, 1_200_000);

  it('checks the entry point before writing anything', () => {
    const out = join(dir, 'bad.tar');
    const r = tsdsl(['pack', '-f', 'docker', '--entry-point=bin/no-such-program', 'hwloc', '-o', out], { env, timeoutMs: 600_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the entry point `bin\/no-such-program` is not in the profile/);
    expect(existsSync(out)).toBe(false);
  }, 600_000);
});
