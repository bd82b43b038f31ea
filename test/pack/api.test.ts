/**
 * The code API's requests (`pack()`, `run()`): what they are given is checked before anything
 * is built, as the command line's options are. A misspelt field or transformation is an error
 * with the closest name, never dropped; the object form of `transform()` is taken too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/store.js';
import { FROM_COMMAND_LINE, defaultPackName, pack } from '../../src/pack/api.js';
import { run } from '../../src/run/api.js';
import { requestedPackages } from '../../src/build/profile.js';
import type { Package } from '../../src/dsl/package.js';

describe('pack() and run() requests', () => {
  it('refuse a transformation they do not know, in either form, with the closest name', async () => {
    await expect(pack({ packages: ['hwloc'], transformations: ['--with-inpt=zlib=zlib'] })).rejects.toThrow(
      /^pack\(\): `--with-inpt=zlib=zlib` is not a transformation option; did you mean `--with-input`\?/,
    );
    await expect(pack({ packages: ['hwloc'], transformations: { withoutTest: ['hwloc'] } as never })).rejects.toThrow(
      /^pack\(\): unknown transformation `withoutTest`; did you mean `withoutTests`/,
    );
    await expect(run({ packages: ['hwloc'], transformations: ['--without-test=hwloc'], command: ['true'] })).rejects.toThrow(
      /^run\(\): `--without-test=hwloc` is not a transformation option; did you mean `--without-tests`/,
    );
  });

  it('refuse a field they do not know, and run() refuses package fields with a pack', async () => {
    await expect(pack({ packages: ['hwloc'], symlink: ['/bin=bin'] } as never)).rejects.toThrow(/^pack\(\): unknown field `symlink`; did you mean `symlinks`\?/);
    await expect(run({ pack: 'x.tar.gz', comand: ['true'] } as never)).rejects.toThrow(/^run\(\): unknown field `comand`; did you mean `command`\?/);
    await expect(run({ pack: 'x.tar.gz', transformations: ['--without-tests=hwloc'] })).rejects.toThrow(/^run\(\): `transformations` applies with `packages`/);
    await expect(run({ pack: 'x.tar.gz', maxJobs: 2 })).rejects.toThrow(/^run\(\): `maxJobs` applies with `packages`/);
    // false asks for nothing: pure: false with a pack is fine (the pack is then looked for).
    await expect(run({ pack: '/nonexistent/x.tar.gz', pure: false })).rejects.toThrow(/nonexistent/);
  });

  it('refuse a field of the wrong type, naming it, what it must be and what it was', async () => {
    const bad = (request: object) => pack(request as never);
    await expect(bad({})).rejects.toThrow(/^pack\(\): `packages` is missing: give what to pack, e\.g\. \{ packages: \['hwloc'\] \}/);
    await expect(bad({ packages: 'hwloc' })).rejects.toThrow(/^pack\(\): `packages` must be a non-empty array of packages, specs or outputs \(\['hwloc', 'mumps:doc', \[scotch, 'lib'\]\]\), not "hwloc"/);
    // An output the package lacks, as a spec or as [package, output], before anything is built.
    const [hwloc] = (await requestedPackages(['hwloc'], undefined, undefined)) as Package[];
    await expect(bad({ packages: ['hwloc:lib'] })).rejects.toThrow(/^`hwloc:lib`: hwloc@2\.9\.0 has no output `lib` \(its outputs: out\)$/);
    await expect(bad({ packages: [[hwloc, 'lib']] })).rejects.toThrow(/^`hwloc:lib`: hwloc@2\.9\.0 has no output `lib`/);
    await expect(run({ packages: [[hwloc!, 'doc']], command: ['true'] })).rejects.toThrow(/^`hwloc:doc`: hwloc@2\.9\.0 has no output `doc`/);
    await expect(bad({ packages: [undefined] })).rejects.toThrow(/`packages` must be .*, not \[undefined\]/);
    await expect(bad({ packages: [42] })).rejects.toThrow(/`packages` must be .*, not \[42\]/);
    await expect(bad({ packages: ['hwloc'], symlinks: '/bin=bin' })).rejects.toThrow(/^pack\(\): `symlinks` must be an array of LINK=TARGET strings .*, not "\/bin=bin"/);
    await expect(bad({ packages: ['hwloc'], symlinks: { '/bin': 42 } })).rejects.toThrow(/`symlinks` must be .*, not \{"\/bin":42\}/);
    for (const relocatable of ['RR', -1, 1.5, true] as unknown[]) await expect(bad({ packages: ['hwloc'], relocatable })).rejects.toThrow(/^pack\(\): `relocatable` must be 0, 1 \(-R\) or 2 \(-RR\)/);
    await expect(bad({ packages: ['hwloc'], imageTag: '' })).rejects.toThrow(/^pack\(\): `imageTag` must be a non-empty string, not ""/);
    await expect(bad({ packages: ['hwloc'], entryPoint: '' })).rejects.toThrow(/`entryPoint` must be a non-empty string/);
    await expect(bad({ packages: ['hwloc'], maxLayers: '3' })).rejects.toThrow(/^pack\(\): `maxLayers` must be a whole number of at least 1, not "3"/);
    // Said by pack() before lowering (it was said by realise(), after).
    await expect(bad({ packages: ['hwloc'], signal: 'x' })).rejects.toThrow(/^pack\(\): `signal` must be an AbortSignal/);
    await expect(run({ pack: 'x.tar.gz', signal: 'x' as never })).rejects.toThrow(/^run\(\): `signal` must be an AbortSignal/);
    await expect(run({ pack: 'x.tar.gz', command: 'lstopo-no-graphics' as never })).rejects.toThrow(/^run\(\): `command` must be an array of strings, the program first .*, not "lstopo-no-graphics"/);
    await expect(run({ pack: 'x.tar.gz', env: { A: 1 } as never })).rejects.toThrow(/^run\(\): `env` must be an object of strings, not \{"A":1\}/);
    // A string where a list goes: `expose.map is not a function` before.
    await expect(run({ pack: 'x.tar.gz', expose: '/tmp' as never })).rejects.toThrow(/^run\(\): `expose` must be an array of host directories .*, not "\/tmp"/);
    await expect(run({ pack: 'x.tar.gz', share: [42] as never })).rejects.toThrow(/^run\(\): `share` must be an array of host directories .*, not \[42\]/);
    // 'pipee' ran with the terminal; stdout without 'pipe' was ignored.
    await expect(run({ pack: 'x.tar.gz', stdio: 'pipee' as never })).rejects.toThrow(/^run\(\): `stdio` must be 'inherit' or 'pipe', not "pipee"/);
    // A bad pattern stops run() before anything is built (it was found after the build); the
    // message names the flag, and then the request field it is.
    await expect(run({ packages: ['hwloc'], preserve: ['(['], command: ['true'] })).rejects.toThrow(/^--preserve=\(\[ is not a valid regular expression.* \(in run\(\)'s request, --preserve is `preserve`\)$/);
    await expect(run({ packages: ['hwloc'], expose: ['/nonexistent-src=/data'], command: ['true'] })).rejects.toThrow(/^--expose=\/nonexistent-src=\/data: .* does not exist.* \(in run\(\)'s request, --expose is `expose`\)$/);
    await expect(run({ pack: 'x.tar.gz', stdout: process.stdout })).rejects.toThrow(/^run\(\): `stdout` is used with `stdio: 'pipe'` only/);
    await expect(run({ pack: 'x.tar.gz', env: { 'A=B': 'x' } })).rejects.toThrow(/^run\(\): `env` names a variable "A=B", which no environment can hold/);
    await expect(run({ pack: 'x.tar.gz', cwd: '/nonexistent' })).rejects.toThrow(/^run\(\): `cwd` \/nonexistent is not a directory here/);
    // `cwd` is the command's: a relative pack is the caller's (it was looked for under cwd).
    await expect(run({ pack: 'no-such-pack.tar.gz', cwd: '/tmp' })).rejects.toThrow(`pack \`${join(process.cwd(), 'no-such-pack.tar.gz')}\` does not exist`);
  });

  it('refuse -S links given twice or inside each other before anything is built', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-pack-links-'));
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    try {
      await expect(pack({ packages: ['hwloc'], symlinks: ['/bin=bin', '/bin=lib'], store })).rejects.toThrow(/^cannot pack: `-S \/bin=lib`: `\/bin` is given twice/);
      await expect(pack({ packages: ['hwloc'], symlinks: { '/a': 'bin', '/a/b': 'lib' }, store })).rejects.toThrow(/`-S` links `\/a` and `\/a\/b` overlap/);
      await expect(pack({ packages: ['hwloc'], format: 'docker', symlinks: ['/=bin'], store })).rejects.toThrow(/-S \/=bin: the link would be the pack's root itself/);
      expect(store.allValidPaths()).toEqual([]);
    } finally {
      store.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('name a pack of a package given twice once (zlib-tarball-pack, not zlib-zlib-…)', async () => {
    const [zlib] = (await requestedPackages(['zlib'], undefined, undefined, () => {})) as Package[];
    expect(defaultPackName([zlib!, zlib!], 'tarball')).toBe('zlib-tarball-pack');
  });

  it('stop at once on a signal aborted already: nothing lowered or written', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-pack-aborted-'));
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    try {
      await expect(pack({ packages: ['hwloc'], store, signal: AbortSignal.abort() })).rejects.toThrow(/interrupted/);
      await expect(run({ packages: ['hwloc'], command: ['true'], store, signal: AbortSignal.abort() })).rejects.toThrow(/interrupted/);
      expect(store.allValidPaths()).toEqual([]);
    } finally {
      store.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuse a store that was closed, or is not one, naming it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-pack-closed-'));
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    store.close();
    try {
      await expect(pack({ packages: ['hwloc'], store })).rejects.toThrow(`pack(): \`store\` (${root}) was closed before pack() used it; close it once pack() has resolved`);
      await expect(run({ packages: ['hwloc'], command: ['true'], store })).rejects.toThrow(/^run\(\): `store` \(.*\) was closed before run\(\) used it/);
      await expect(pack({ packages: ['hwloc'], store: { storeDir: '/tsdsl/store' } as never })).rejects.toThrow(/^pack\(\): `store` must be a store made by openStore\(\), not another object/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('apply the object form of transform() as they apply options', async () => {
    const [byObject] = (await requestedPackages(['hwloc'], { withoutTests: ['hwloc'] }, undefined)) as Package[];
    const [byOption] = (await requestedPackages(['hwloc'], ['--without-tests=hwloc'], undefined)) as Package[];
    const [plain] = (await requestedPackages(['hwloc'], undefined, undefined)) as Package[];
    expect(byObject!.arguments.tests).toBe(false);
    expect(byOption!.arguments.tests).toBe(false);
    expect(plain!.arguments.tests).not.toBe(false);
  });

  it("refuse output '-' (the command line's standard output), and print warnings on stderr when no onWarning is given", async () => {
    await expect(pack({ packages: ['hwloc'], output: '-' })).rejects.toThrow(/^pack\(\): output '-' is the command line's way to write to standard output; give a file name/);
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      // The warning comes while the packages are resolved; the missing directory then stops it before any build.
      await expect(pack({ packages: ['zlib'], transformations: ['--without-tests=mumps'], output: '/nonexistent-dir/x.tar.gz' })).rejects.toThrow(/nonexistent-dir/);
    } finally {
      process.stderr.write = write;
    }
    expect(written.join('')).toMatch(/^tsdsl: warning: --without-tests=mumps had no effect on `zlib@1\.2\.13`\n/);
  });

  it("say which request field an option error's flags are, unless the command line asked", async () => {
    await expect(pack({ packages: ['hwloc'], symlinks: ['bin'] })).rejects.toThrow(/^-S bin: expected LINK=TARGET, .* \(in pack\(\)'s request, -S is `symlinks`\)$/);
    await expect(pack({ packages: ['hwloc'], format: 'docker', relocatable: 1, symlinks: ['/bin=bin'] })).rejects.toThrow(
      /^-R makes relocatable tarballs; it does not apply to -f docker .*\(in pack\(\)'s request, -R is `relocatable: 1` \(-RR `relocatable: 2`\), -f is `format`\)$/,
    );
    await expect(pack({ packages: ['hwloc'], maxLayers: 3 })).rejects.toThrow(/^--max-layers applies to .*\(in pack\(\)'s request, -f is `format`, --max-layers is `maxLayers`\)$/);
    await expect(pack({ packages: ['hwloc'], output: '' })).rejects.toThrow(/\(in pack\(\)'s request, -o is `output`\)$/);
    await expect(pack({ packages: ['hwloc'], output: '/nonexistent-dir/x.tar.gz' })).rejects.toThrow(/does not exist; create it first, or choose another place with -o FILE \(in pack\(\)'s request, -o is `output`\)$/);
    // A message that is not about the options is left alone.
    await expect(pack({ packages: ['no-such-package-x'] })).rejects.toThrow(/unknown package `no-such-package-x`(?![\s\S]*in pack\(\)'s request)/);
    // The command line's own requests keep the flags alone.
    await expect(pack({ packages: ['hwloc'], symlinks: ['bin'], [FROM_COMMAND_LINE]: true } as never)).rejects.toThrow(/^-S bin: expected LINK=TARGET, e\.g\. -S \/bin=bin \(a link \/bin in the pack to the profile's bin\)$/);
  });
});
