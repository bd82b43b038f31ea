/**
 * `tsdsl pack` end to end: hwloc (built from source if the test store lacks it) packed as a
 * tarball, twice in two processes with identical bytes, then the seed's own commands as an
 * unprivileged user: `tar xf pack.tar.gz -C ~/.local` and `unshare -mrf chroot ~/.local
 * /bin/lstopo-no-graphics`. The test store is shared by the slow suites (TSDSL_TEST_ROOT).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSandboxSupport } from '../../src/build/sandbox.js';
import { tsdsl } from './helpers.js';

const support = checkSandboxSupport();
if (!support.ok) console.warn(`skipping pack tests: building needs user namespaces (${support.reason})`);
const root = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
const env = { TSDSL_ROOT: root };
const slow = { env, timeoutMs: 1_100_000 };
const hasUser = spawnSync('id', ['tsdsltest']).status === 0 && process.getuid?.() === 0;

describe.skipIf(!support.ok)('tsdsl pack', () => {
  it('packs hwloc reproducibly, and the tarball runs with unshare and chroot as a plain user', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-pack-'));
    chmodSync(dir, 0o755);
    const a = tsdsl(['pack', 'hwloc', '-S', '/bin=bin', '-o', join(dir, 'a.tar.gz'), '-j2'], slow);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/a\.tar\.gz\t[\d.]+ MiB\n$/);
    // The second one's record as JSON, for scripts: its file, size, sha256, profile and closure.
    const b = tsdsl(['pack', '--json', 'hwloc', '-S', '/bin=bin', '-o', join(dir, 'b.tar.gz')], slow);
    expect(b.code, b.stderr).toBe(0);
    expect(readFileSync(join(dir, 'a.tar.gz')).equals(readFileSync(join(dir, 'b.tar.gz')))).toBe(true);
    const record = JSON.parse(b.stdout) as { file: string; bytes: number; sha256: string; format: string; profile: string; closure: string[] };
    expect(record.file).toBe(join(dir, 'b.tar.gz'));
    expect(record.bytes).toBe(statSync(record.file).size);
    expect(record.sha256).toBe(createHash('sha256').update(readFileSync(join(dir, 'a.tar.gz'))).digest('hex'));
    expect(record.format).toBe('tarball');
    expect(record.profile).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-profile$/);
    expect(record.closure).toContain(record.profile);
    expect(record.closure.some((p) => /-hwloc-2\.9\.0$/.test(p))).toBe(true);
    expect(tsdsl(['pack', '--json', '-o', '-', 'hwloc'], { env }).stderr).toMatch(/--json prints the pack's record on standard output, where -o - writes the pack itself/);
    // build --json: the same package's record (built: nothing to do), and what -d and -n say.
    const built = tsdsl(['build', '--json', 'hwloc'], slow);
    expect(built.code, built.stderr).toBe(0);
    const [hw] = JSON.parse(built.stdout) as Array<{ package: string; version: string; drvPath: string; outputs: Record<string, string> }>;
    expect(hw).toMatchObject({ spec: 'hwloc', package: 'hwloc', version: '2.9.0', drvPath: expect.stringMatching(/-hwloc-2\.9\.0\.drv$/) });
    expect(record.closure).toContain(hw!.outputs['out']);
    expect(JSON.parse(tsdsl(['build', '-d', '--json', 'hwloc'], { env }).stdout)).toEqual([hw]);
    expect(JSON.parse(tsdsl(['build', '-n', '--json', 'hwloc'], { env }).stdout)).toEqual({ build: [], download: [] });
    // A dry run of --check says it would build it again (it said "nothing to be built"); -r is refused.
    const dryCheck = tsdsl(['build', '-n', '--check', '--json', 'hwloc'], { env });
    expect(dryCheck.stderr).toMatch(/^1 derivation in the store would be built again and compared bit for bit with it:\n {3}\S+-hwloc-2\.9\.0\.drv\n$/);
    expect(JSON.parse(dryCheck.stdout)).toEqual({ build: [], check: [hw!.drvPath], download: [] });
    expect(tsdsl(['build', '-n', '-r', join(dir, 'r'), 'hwloc'], { env }).stderr).toMatch(/-n builds nothing, so --root has no effect/);
    const list = spawnSync('tar', ['-tvzf', join(dir, 'a.tar.gz')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(list[0]).toMatch(/^l[rwx-]{9} root\/root\s+0 1970-01-01 00:00 \.\/bin -> tsdsl\/store\/[0-9a-z]{32}-profile\/bin$/);
    expect(list.every((l) => / root\/root /.test(l) && / 1970-01-01 00:0[01] /.test(l))).toBe(true);
    chmodSync(join(dir, 'a.tar.gz'), 0o644);
    const home = mkdtempSync(join(tmpdir(), 'tsdsl-home-'));
    chmodSync(home, 0o777);
    const script = `set -e; mkdir -p ${home}/.local; tar xf ${dir}/a.tar.gz -C ${home}/.local; mkdir -p ${home}/.local/proc ${home}/.local/sys;
      unshare -mrf sh -c 'mount --rbind /proc ${home}/.local/proc; mount --rbind /sys ${home}/.local/sys; exec chroot ${home}/.local /bin/lstopo-no-graphics'`;
    const run = hasUser ? spawnSync('runuser', ['-u', 'tsdsltest', '--', 'sh', '-c', script], { encoding: 'utf8' }) : spawnSync('sh', ['-c', script], { encoding: 'utf8' });
    if (!hasUser) console.warn('running the unpacked pack as the current user: no tsdsltest user (.ci/run creates it)');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^Machine \(/);
  }, 1_200_000);

  it('bad input is a clear error and leaves no pack behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-pack-bad-'));
    mkdirSync(join(dir, 'x'));
    expect(tsdsl(['pack', '-f', 'tarbal', 'hwloc'], { env }).stderr).toMatch(/unknown pack format `tarbal`; did you mean `tarball`/);
    expect(tsdsl(['pack', '-C', 'gzipp', 'hwloc', '-o', join(dir, 'p.tar')], { env }).stderr).toMatch(/gzipp/);
    expect(tsdsl(['pack', '-S', 'bin=bin', 'hwloc'], { env }).stderr).toMatch(/the link must be an absolute path/);
    expect(tsdsl(['pack', '-S', '/bin=/bin', 'hwloc'], { env }).stderr).toMatch(/the target must be relative to the profile/);
    expect(tsdsl(['pack', '-f', 'docker', '--max-layers=1', 'hwloc'], { env }).stderr).toMatch(/at least 2 layers/);
    expect(tsdsl(['pack', '-f', 'docker', '-S', '/dev=lib', 'hwloc'], { env }).stderr).toMatch(/-S \/dev: `\/dev` is where container runtimes mount the host's \/dev, so a pack can have no link there/);
    expect(tsdsl(['pack', '-f', 'oci', '-S', '/tmp/x=bin', 'hwloc'], { env }).stderr).toMatch(/-S \/tmp\/x: `\/tmp` is where container runtimes mount the pack's temporary directory/);
    // As for a squashfs or a tarball, which tsdsl run's engines mount the same places over.
    expect(tsdsl(['pack', '-f', 'squashfs', '-S', '/proc=lib', 'hwloc'], { env }).stderr).toMatch(/-S \/proc: `\/proc` is where container runtimes mount the host's \/proc/);
    expect(tsdsl(['pack', '-S', '/tmp=lib', 'hwloc'], { env }).stderr).toMatch(/-S \/tmp: `\/tmp` is where/);
    // However the path is spelt.
    for (const link of ['//proc', '/./proc', '/a/../proc/']) expect(tsdsl(['pack', '-S', `${link}=bin`, 'hwloc'], { env }).stderr, link).toMatch(/-S \/proc: `\/proc` is where/);
    expect(tsdsl(['pack', '-f', 'squashfs', '-S', '/./tmp=bin', 'hwloc'], { env }).stderr).toMatch(/-S \/tmp: `\/tmp` is where/);
    expect(tsdsl(['pack', '-S', '/..=bin', 'hwloc'], { env }).stderr).toMatch(/-S \/\.\.=bin: the link would be the pack's root itself/);
    expect(tsdsl(['pack', '-f', 'docker', '--max-layers=500', 'hwloc'], { env }).stderr).toMatch(/--max-layers=500: Docker and Podman run images of at most 125 layers; give 125 or fewer/);
    expect(tsdsl(['pack', '--list-formats']).stdout).toMatch(/tarball[\s\S]*docker[\s\S]*squashfs/);
    // build, pack and shell share -j/--cores and their checks.
    for (const cmd of ['build', 'pack', 'shell']) {
      expect(tsdsl([cmd, '-j0', 'hwloc'], { env }).stderr).toMatch(new RegExp(`^tsdsl: error: tsdsl ${cmd}: -j/--max-jobs 0: give a whole number of builds, 1 or more`));
      expect(tsdsl([cmd, '--cores=0', 'hwloc'], { env }).stderr).toMatch(new RegExp(`^tsdsl: error: tsdsl ${cmd}: --cores 0: give a whole number of cores`));
    }
    expect(spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.trim()).toBe('x');
    // Where the pack would go is checked before anything is built: an empty store stays empty.
    const fresh = join(dir, 'fresh-root');
    const nowhere = tsdsl(['pack', '-o', join(dir, 'no-such-dir', 'p.tar.gz'), 'hwloc'], { env: { TSDSL_ROOT: fresh } });
    expect(nowhere.stderr).toMatch(/^tsdsl: error: cannot write `.*\/no-such-dir\/p\.tar\.gz`: the directory `.*\/no-such-dir` does not exist; create it first/);
    expect(nowhere.code).toBe(1);
    expect(tsdsl(['pack', '-o', join(dir, 'x'), 'hwloc'], { env: { TSDSL_ROOT: fresh } }).stderr).toMatch(/it is a directory; give a file name/);
    expect(spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.trim()).toBe('x');
    // A squashfs compressor that does not exist is found before anything is built.
    expect(tsdsl(['pack', '-f', 'squashfs', '-C', 'zstd9', 'hwloc'], { env: { TSDSL_ROOT: fresh } }).stderr).toMatch(/zstd9/);
    // A full file system while writing: one error about -o, nothing left there (root mounts a small one).
    if (process.getuid?.() === 0) {
      const small = join(dir, 'small');
      mkdirSync(small);
      if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsdsl-test', small]).status === 0) {
        try {
          for (const format of ['tarball', 'squashfs']) {
            const full = tsdsl(['pack', '-f', format, '-o', join(small, `p-${format}`), 'hwloc'], { env, timeoutMs: 600_000 });
            expect(full.stderr).toMatch(new RegExp(`^tsdsl: error: cannot write the pack .*small/p-${format}: the file system is full \\(ENOSPC\\); nothing was left there`, 'm'));
            expect(full.code).toBe(1);
            expect(spawnSync('ls', ['-A', small], { encoding: 'utf8' }).stdout).toBe('');
          }
        } finally {
          spawnSync('umount', [small]);
        }
      } else console.log('skipped the full-disk case: mounting a tmpfs failed');
    }
  }, 600_000);

  it('builds, packs and runs one output of a package (`two-outs:doc`), as Guix reads PACKAGE:OUTPUT', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-pack-output-'));
    chmodSync(dir, 0o755);
    // The package file in a directory of its own: -L loads every file of its directory.
    mkdirSync(join(dir, 'pkgs'));
    writeFileSync(
      join(dir, 'pkgs', 'two.ts'),
      `import { definePackage, trivial, licenses } from 'tsdsl';\nimport { bash, coreutils } from 'tsdsl/packages';\n` +
        `export const two = definePackage({ name: 'two-outs', version: '1', outputs: ['out', 'doc'], buildSystem: trivial, nativeInputs: [bash, coreutils], ` +
        `arguments: { phases: { build: 'mkdir -p "$out/bin" "$doc/share/doc"; echo tool > "$out/bin/two"; echo readme > "$doc/share/doc/readme"' } }, ` +
        `synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });\n`,
    );
    const L = ['-L', join(dir, 'pkgs')];
    const both = tsdsl(['build', ...L, 'two-outs'], slow);
    expect(both.code, both.stderr).toBe(0);
    const [out, doc] = both.stdout.trim().split('\n');
    expect(out).toMatch(/-two-outs-1$/);
    expect(doc).toMatch(/-two-outs-1-doc$/);
    // The output asked for is the one printed, given in JSON and rooted; the derivation is the same.
    expect(tsdsl(['build', ...L, 'two-outs:doc'], { env }).stdout).toBe(`${doc}\n`);
    const [record] = JSON.parse(tsdsl(['build', '--json', ...L, 'two-outs:doc'], { env }).stdout) as Array<{ spec: string; drvPath: string; outputs: Record<string, string> }>;
    expect(record).toMatchObject({ spec: 'two-outs:doc', outputs: { doc } });
    expect(tsdsl(['build', '-d', ...L, 'two-outs:doc'], { env }).stdout).toBe(`${record!.drvPath}\n`);
    expect(tsdsl(['build', ...L, '-r', join(dir, 'result'), 'two-outs:doc'], { env }).code).toBe(0);
    // (to the output as this store holds it, which may be elsewhere than its logical path)
    expect(readlinkSync(join(dir, 'result')).endsWith(`/${basename(doc!)}`)).toBe(true);
    // size and gc look at that output's item (`guix size glib:bin`).
    const sizes = JSON.parse(tsdsl(['size', '--json', ...L, 'two-outs:doc'], { env }).stdout) as { items: Array<{ path: string }> };
    expect(sizes.items.map((i) => i.path)).toEqual([doc]);
    expect(tsdsl(['gc', '--requisites', ...L, 'two-outs', ':doc'], { env }).stdout).toBe(`${doc}\n`);
    // A pack of the doc output holds it and not the out output; asking for both is packing the package.
    const packed = tsdsl(['pack', '--json', ...L, 'two-outs:doc', '-o', join(dir, 'doc.tar.gz')], { env });
    expect(packed.code, packed.stderr).toBe(0);
    const { closure } = JSON.parse(packed.stdout) as { closure: string[] };
    expect(closure).toContain(doc);
    expect(closure).not.toContain(out);
    const listing = spawnSync('tar', ['-tzf', join(dir, 'doc.tar.gz')], { encoding: 'utf8' }).stdout;
    expect(listing).toMatch(/-profile\/share\/doc\/readme$/m);
    expect(listing).not.toMatch(/-profile\/bin/);
    const profile = (specs: string[]) => tsdsl(['pack', '-d', ...L, ...specs], { env }).stdout;
    expect(profile(['two-outs:out', 'two-outs:doc'])).toBe(profile(['two-outs']));
    expect(profile(['two-outs:doc'])).not.toBe(profile(['two-outs']));
    // A manifest takes them too: as a string, or as [package, output].
    writeFileSync(join(dir, 'm.ts'), `import { defineManifest } from 'tsdsl';\nimport { two } from './pkgs/two.ts';\nexport default defineManifest({ packages: [[two, 'doc']] });\n`);
    writeFileSync(join(dir, 'n.ts'), `import { defineManifest } from 'tsdsl';\nexport default defineManifest({ packages: ['two-outs:doc'] });\n`);
    expect(tsdsl(['pack', '-d', ...L, '-m', join(dir, 'm.ts')], { env }).stdout).toBe(profile(['two-outs:doc']));
    expect(tsdsl(['pack', '-d', ...L, '-m', join(dir, 'n.ts')], { env }).stdout).toBe(profile(['two-outs:doc']));
    writeFileSync(join(dir, 'bad.ts'), `import { defineManifest } from 'tsdsl';\nimport { two } from './pkgs/two.ts';\nexport default defineManifest({\n  packages: [[two, 'dco']],\n});\n`);
    expect(tsdsl(['pack', '-d', ...L, '-m', join(dir, 'bad.ts')], { env }).stderr).toMatch(/^tsdsl: error: .*bad\.ts:4: packages\[0\]: `two-outs:dco`: two-outs@1 has no output `dco`; did you mean `doc`\?/);
    // A shell of the doc output has its files, and not the others.
    const shell = tsdsl(['shell', ...L, 'two-outs:doc', '--', 'sh', '-c', 'cat "$TSDSL_PROFILE/share/doc/readme"; ls "$TSDSL_PROFILE"'], { env });
    expect(shell.stdout, shell.stderr).toBe('readme\netc\nmanifest.json\nshare\n');
    // An output the package lacks, an output where a package is meant, an output of a source.
    expect(tsdsl(['build', ...L, 'two-outs:dco'], { env }).stderr).toMatch(/^tsdsl: error: `two-outs:dco`: two-outs@1 has no output `dco`; did you mean `doc`\? \(its outputs: out, doc\)$/m);
    expect(tsdsl(['show', ...L, 'two-outs:doc'], { env }).stderr).toMatch(/^tsdsl: error: `two-outs:doc` names the output `doc` of a package, where a package is meant; write `two-outs` \(an output is taken by build, pack, shell, size, gc and log, and by pack manifests\)$/m);
    expect(tsdsl(['build', '-S', ...L, 'two-outs@1', ':doc'], { env }).stderr).toMatch(/^tsdsl: error: tsdsl build -S: `two-outs@1:doc` names an output, and a source has none; write `two-outs@1`$/m);
    expect(tsdsl(['pack', '-d', ...L, '--with-input=two-outs:doc=hwloc', 'two-outs'], { env }).stderr).toMatch(/^tsdsl: error: --with-input=two-outs:doc=hwloc: `two-outs:doc` names the output `doc` of a package, where a package is meant/m);
    expect(tsdsl(['pack', '-d', ...L, '--with-source=two-outs@1:doc=/etc/hostname', 'two-outs'], { env }).stderr).toMatch(/^tsdsl: error: --with-source=two-outs@1:doc=\/etc\/hostname: `two-outs@1:doc` names the output `doc` of a package, where a package is meant; write `two-outs@1`/m);
    // A manifest's item that is no [package, output] says what it is and how to write one.
    writeFileSync(join(dir, 'bad.ts'), `import { defineManifest } from 'tsdsl';\nimport { two } from './pkgs/two.ts';\nexport default defineManifest({\n  packages: [[two, 'doc', 'x'], ['two-outs', 'doc']],\n});\n`);
    expect(tsdsl(['pack', '-d', ...L, '-m', join(dir, 'bad.ts')], { env }).stderr).toMatch(/^tsdsl: error: .*bad\.ts:3: packages\[0\] is \[package two-outs, "doc", "x"\]; an output of a package is written \[package, 'output'\]/m);
    writeFileSync(join(dir, 'bad.ts'), `import { defineManifest } from 'tsdsl';\nexport default defineManifest({\n  packages: [['two-outs', 'doc']],\n});\n`);
    expect(tsdsl(['pack', '-d', ...L, '-m', join(dir, 'bad.ts')], { env }).stderr).toMatch(/packages\[0\] is \["two-outs", "doc"\]; .*; for a package by name, write 'two-outs:doc'$/m);
  }, 1_200_000);
});
