import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/pack/compress.js';
import { squashfs, squashfsTree, stageTree } from '../../src/pack/squashfs.js';
import { checkPackInput, planTar } from '../../src/pack/tar.js';
import { makeClosure } from './fixtures/closure.js';
import type { FakeClosure } from './fixtures/closure.js';
import { itWith } from './fixtures/tools.js';

let base: string;
let closure: FakeClosure;
let noShell: FakeClosure;
let dir: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tsdsl-squashfs-closure-'));
  mkdirSync(join(base, 'a'));
  mkdirSync(join(base, 'b'));
  closure = makeClosure(join(base, 'a'));
  noShell = makeClosure(join(base, 'b'), { shell: false });
});
afterAll(() => removeTree(base));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-squashfs-'));
});
afterEach(() => removeTree(dir));

function run(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** `unsquashfs -lls` as a map: path inside the image → its listing line. */
function listing(file: string): Map<string, string> {
  const out = run('unsquashfs', ['-lls', '-d', '', file]);
  const rows = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s+\S+\s+\d+\s+\S+\s+\S+\s+(\/?.*?)(?: -> (.*))?$/.exec(line);
    if (m && m[2]) rows.set(m[2].startsWith('/') ? m[2] : `/${m[2]}`, line);
  }
  return rows;
}

describe('squashfs image', () => {
  itWith(['mksquashfs', 'unsquashfs'])('lists the Singularity layout, the mount points and the store items', async () => {
    const file = join(dir, 'hello.squashfs');
    await squashfs.write(closure.input, {}, file);
    const rows = listing(file);
    for (const p of [
      '/.singularity.d/env/90-environment.sh',
      '/.singularity.d/runscript',
      '/.singularity.d/actions/exec',
      '/.singularity.d/actions/run',
      '/.singularity.d/actions/shell',
      '/proc',
      '/sys',
      '/dev',
      '/home',
      '/tmp',
      '/etc/passwd',
      closure.paths.greeting,
      `${closure.paths.hello}/bin/hello`,
      `${closure.input.profile}/manifest.json`,
    ]) {
      expect(rows.has(p), p).toBe(true);
    }
    expect(rows.get('/tmp')!.startsWith('drwxrwxrwt root/root')).toBe(true);
    expect(rows.get('/.singularity.d/actions/exec')!.startsWith('-rwxr-xr-x root/root')).toBe(true);
    // `-S /bin=bin` makes /bin the profile's bin, which has sh.
    expect(rows.get('/bin')).toMatch(/-> tsdsl\/store\/.*-profile\/bin$/);
    for (const line of rows.values()) expect(line).toMatch(/ 1970-01-01 00:00 /);
  });

  itWith(['mksquashfs', 'unsquashfs'])('writes scripts that load the profile and exec the entry point', async () => {
    const file = join(dir, 'hello.squashfs');
    await squashfs.write(closure.input, {}, file);
    const out = join(dir, 'unpacked');
    run('unsquashfs', ['-d', out, file]);
    const profile = closure.input.profile;
    expect(readFileSync(join(out, '.singularity.d/env/90-environment.sh'), 'utf8')).toContain(`. '${profile}/etc/profile'`);
    expect(readFileSync(join(out, '.singularity.d/runscript'), 'utf8')).toBe(`#!/bin/sh\nexec '${profile}/bin/hello' "$@"\n`);
    expect(readFileSync(join(out, '.singularity.d/actions/exec'), 'utf8')).toMatch(/\. "\$script"[\s\S]*exec "\$@"/);
  });

  itWith(['mksquashfs', 'unsquashfs'])('links /bin/sh to a shell of the closure when no -S link decides /bin', async () => {
    const file = join(dir, 'hello.squashfs');
    await squashfs.write({ ...closure.input, symlinks: [] }, {}, file);
    expect(listing(file).get('/bin/sh')).toMatch(new RegExp(`-> ${closure.input.profile}/bin/sh$`));
  });

  it('warns and leaves /bin/sh out when the closure has no shell, exporting env itself', () => {
    const warnings: string[] = [];
    const input = { ...noShell.input, symlinks: [] };
    const tree = squashfsTree(checkPackInput(input), { PATH: '/x/bin', 'A': "it's" }, (w) => warnings.push(w));
    expect(warnings).toEqual([expect.stringMatching(/no shell.*no \/bin\/sh/)]);
    expect(tree.get('/bin/sh')).toBeUndefined();
    // Without a shell the runscript is the entry point itself, not a script.
    expect(tree.get('/.singularity.d/runscript')).toMatchObject({ kind: 'symlink', target: `${input.profile}/bin/hello` });
    const names = planTar(tree).map((e) => e.name.toString());
    expect(names).toContain('.singularity.d/env/90-environment.sh');
  });

  it('exports env, quoted, when the profile has no etc/profile', () => {
    // The hello item stands in for a profile without etc/profile.
    const input = {
      ...noShell.input,
      items: noShell.input.items.filter((i) => i.path === noShell.paths.hello || i.path === noShell.paths.greeting),
      profile: noShell.paths.hello,
      symlinks: [],
    };
    const tree = squashfsTree(checkPackInput(input), { PATH: '/x/bin', B: "it's" }, () => {});
    const env = tree.get('/.singularity.d/env/90-environment.sh');
    expect(env?.kind).toBe('file');
    expect(Buffer.from((env as { content: Uint8Array }).content).toString()).toBe(
      `# The environment of the profile ${noShell.paths.hello}.\nB='it'\\''s'\nexport B\nPATH='/x/bin'\nexport PATH\n`,
    );
  });

  it('stages store files as hard links, except group-writable ones and second links to one inode', () => {
    const stage = join(dir, 'stage');
    mkdirSync(stage);
    stageTree(squashfsTree(checkPackInput(closure.input), {}, () => {}), stage);
    const share = (root: string): string => join(root, closure.paths.greeting.slice(1), 'share');
    const store = join(base, 'a', 'store', closure.paths.greeting.split('/').pop()!, 'share');
    const ino = (p: string): number => statSync(p).ino;
    expect(ino(join(share(stage), 'greeting.txt'))).toBe(ino(join(store, 'greeting.txt')));
    // data-1 and data-2 are one inode in the store: only one of them is linked.
    const linked = ['data-1', 'data-2'].filter((n) => ino(join(share(stage), n)) === ino(join(store, n)));
    expect(linked).toHaveLength(1);
    expect(ino(join(share(stage), 'group-writable'))).not.toBe(ino(join(store, 'group-writable')));
    expect(statSync(join(share(stage), 'group-writable')).mode & 0o777).toBe(0o644);
    expect(statSync(share(stage)).mode & 0o777).toBe(0o555);
    expect(statSync(join(stage, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  itWith(['mksquashfs'])('gives the same bytes twice, and leaves no staging directory behind', async () => {
    const a = join(dir, 'a.squashfs');
    const b = join(dir, 'b.squashfs');
    await squashfs.write(closure.input, {}, a);
    await squashfs.write(closure.input, { workDir: join(dir, 'work') }, b);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['a.squashfs', 'b.squashfs', 'work']);
    expect(readdirSync(join(dir, 'work'))).toEqual([]);
  });

  itWith(['mksquashfs', 'unsquashfs'])('uses the compressor chosen with --compression', async () => {
    const file = join(dir, 'z.squashfs');
    await squashfs.write(closure.input, { compression: 'zstd' }, file);
    expect(run('unsquashfs', ['-s', file])).toMatch(/Compression zstd/);
    await expect(squashfs.write(closure.input, { compression: 'xz', compressionLevel: 3 }, join(dir, 'x.squashfs'))).rejects.toThrow(/no compression level for xz/);
  });

  it('reports a missing mksquashfs and leaves nothing behind', async () => {
    const saved = process.env.PATH;
    process.env.PATH = join(dir, 'nowhere');
    try {
      await expect(squashfs.write(closure.input, {}, join(dir, 'x.squashfs'))).rejects.toThrow(/cannot run `mksquashfs`.*squashfs-tools/);
    } finally {
      process.env.PATH = saved;
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});
