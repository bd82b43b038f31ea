/**
 * `tsdsl hash`: a file's sha256 as sha256sum prints it, a directory's NAR hash as Nix computes
 * it, and `-rx` of a clone as the hash a `git()` source is fetched and pinned with.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tsdsl } from './helpers.js';

let dir: string;
const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' };
const sh = (args: string[], cwd: string) => execFileSync('git', args, { cwd, encoding: 'utf8', env: gitEnv }).trim();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-hash-'));
  mkdirSync(join(dir, 'tree/sub'), { recursive: true });
  writeFileSync(join(dir, 'tree/a'), 'a\n');
  writeFileSync(join(dir, 'tree/sub/run'), '#!/bin/sh\n');
  chmodSync(join(dir, 'tree/sub/run'), 0o755);
  writeFileSync(join(dir, 'src-1.0.tar.gz'), 'not really a tarball\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tsdsl hash', () => {
  it("prints a file's sha256 in hex (as sha256sum), or nix32, base64 or SRI", () => {
    const file = join(dir, 'src-1.0.tar.gz');
    const hex = createHash('sha256').update(readFileSync(file)).digest('hex');
    const r = tsdsl(['hash', file]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, `${hex}\n`, '']);
    const sri = `sha256-${Buffer.from(hex, 'hex').toString('base64')}`;
    expect(tsdsl(['hash', '-f', 'sri', file, file]).stdout).toBe(`${sri}\n${sri}\n`);
    expect(tsdsl(['hash', '--format=nix32', file]).stdout).toMatch(/^[0-9a-df-np-sv-z]{52}\n$/);
    // `-` is standard input, as for sha256sum (`curl … | tsdsl hash -`).
    const piped = tsdsl(['hash', '-', file], { input: 'a source, piped\n' });
    expect(piped.stdout).toBe(`${createHash('sha256').update('a source, piped\n').digest('hex')}\n${hex}\n`);
    expect(tsdsl(['hash', '-r', '-']).stderr).toMatch(/standard input \(`-`\) is hashed as a file only, without -r/);
  });

  it.skipIf(spawnSync('nix-hash', ['--version']).status !== 0)('-r is the NAR hash Nix computes (the executable bit counts)', () => {
    const nix = execFileSync('nix-hash', ['--type', 'sha256', '--base32', join(dir, 'tree')], { encoding: 'utf8' });
    expect(tsdsl(['hash', '-r', '-f', 'nix32', join(dir, 'tree')]).stdout).toBe(nix);
    chmodSync(join(dir, 'tree/sub/run'), 0o644);
    try {
      expect(tsdsl(['hash', '-r', '-f', 'nix32', join(dir, 'tree')]).stdout).not.toBe(nix);
    } finally {
      chmodSync(join(dir, 'tree/sub/run'), 0o755);
    }
  });

  it("-rx of a clone at the commit is the sha256 a git() source is fetched with (what build -d says of an unpinned one)", () => {
    const repo = join(dir, 'repo');
    mkdirSync(repo);
    sh(['init', '-q'], repo);
    writeFileSync(join(repo, 'hello.c'), 'int main(void) { return 0; }\n');
    sh(['add', '.'], repo);
    sh(['commit', '-qm', 'one'], repo);
    const commit = sh(['rev-parse', 'HEAD'], repo);
    const pkgs = join(dir, 'pkgs');
    mkdirSync(pkgs);
    writeFileSync(
      join(pkgs, 'g.ts'),
      `import { definePackage, git, licenses, trivial } from 'tsdsl';
export const fromgit = definePackage({
  name: 'fromgit', version: '1', source: git({ url: 'file://${repo}', commit: '${commit}' }), buildSystem: trivial,
  synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat,
});
`,
    );
    const env = { TSDSL_ROOT: join(dir, 'root'), TSDSL_DOWNLOAD_CACHE: join(dir, 'cache') };
    const d = tsdsl(['build', '-d', '-L', pkgs, 'fromgit'], { env });
    expect(d.code, d.stderr).toBe(0);
    const said = /its sha256 is ([0-9a-f]{64}) \(give it as the source's sha256 to pin it\)/.exec(d.stderr)?.[1];
    expect(said).toBeDefined();
    const clone = join(dir, 'clone');
    sh(['clone', '-q', repo, clone], dir);
    expect(tsdsl(['hash', '-rx', clone]).stdout).toBe(`${said}\n`);
    // Without -x, the .git directory is hashed too.
    expect(tsdsl(['hash', '-r', clone]).stdout).not.toBe(`${said}\n`);
  });

  it('bad input is one clear error', () => {
    expect(tsdsl(['hash']).stderr).toMatch(/^tsdsl: error: tsdsl hash: no file given; try `tsdsl hash hwloc-2\.9\.0\.tar\.bz2`/);
    expect(tsdsl(['hash', join(dir, 'nope')]).stderr).toMatch(/`.*nope` does not exist/);
    expect(tsdsl(['hash', join(dir, 'tree')]).stderr).toMatch(/is a directory; hash its NAR serialisation with -r/);
    expect(tsdsl(['hash', '-x', join(dir, 'tree')]).stderr).toMatch(/needs -r \(`tsdsl hash -rx DIR`\)/);
    const r = tsdsl(['hash', '-f', 'hx', join(dir, 'tree')]);
    expect([r.code, r.stderr]).toEqual([1, 'tsdsl: error: tsdsl hash: --format=hx is not a format; did you mean `hex`? (hex, nix32, base64 or sri)\n']);
    // A FIFO is refused, not read until someone writes to it (the command hung).
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(tsdsl(['hash', fifo], { timeoutMs: 10_000 }).stderr).toMatch(/`.*fifo` is a FIFO, not a file/);
    // With -r too, as a command's error (the archiver's said no command).
    expect(tsdsl(['hash', '-r', fifo], { timeoutMs: 10_000 }).stderr).toMatch(/^tsdsl: error: tsdsl hash: cannot archive `.*fifo`: it is a FIFO/);
    // A dangling link is named as one, not as ENOENT; with -r the link itself is hashed.
    const dangling = join(dir, 'dangling');
    symlinkSync('nowhere', dangling);
    expect(tsdsl(['hash', dangling]).stderr).toBe(`tsdsl: error: tsdsl hash: \`${dangling}\` is a symbolic link to \`nowhere\`, which does not exist; hash what it should name, or hash the link itself with -r (as a NAR holds it)\n`);
    expect(tsdsl(['hash', '-r', dangling]).stdout).toMatch(/^[0-9a-f]{64}\n$/);
  });
});
