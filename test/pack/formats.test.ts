import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/pack/compress.js';
import { findPackFormat, packFormats } from '../../src/pack/formats.js';
import type { PackInput, PackOptions } from '../../src/pack/formats.js';
import { makeClosure } from './fixtures/closure.js';
import type { FakeClosure } from './fixtures/closure.js';
import { ensureDist, itWith } from './fixtures/tools.js';

let base: string;
let closure: FakeClosure;
let dir: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tsdsl-formats-closure-'));
  closure = makeClosure(base);
});
afterAll(() => removeTree(base));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-formats-'));
});
afterEach(() => removeTree(dir));

describe('pack formats table', () => {
  it('has tarball, docker, oci and squashfs, with their extensions', () => {
    expect(packFormats.map((f) => f.name)).toEqual(['tarball', 'docker', 'oci', 'squashfs']);
    expect(findPackFormat('tarball').extension()).toBe('.tar.gz');
    expect(findPackFormat('tarball').extension({ compression: 'zstd' })).toBe('.tar.zst');
    expect(findPackFormat('tarball').extension({ compression: 'none' })).toBe('.tar');
    expect(findPackFormat('docker').extension()).toBe('.tar');
    expect(findPackFormat('oci').extension()).toBe('.tar');
    expect(findPackFormat('squashfs').extension()).toBe('.squashfs');
    for (const f of packFormats) expect(f.description.length).toBeGreaterThan(10);
  });

  it('loads in plain Node whichever pack module is imported first (no import cycle at run time)', () => {
    const dist = ensureDist();
    for (const first of ['docker', 'squashfs', 'tar', 'compress', 'formats']) {
      const code = `await import(${JSON.stringify(join(dist, 'pack', `${first}.js`))});
const { packFormats } = await import(${JSON.stringify(join(dist, 'pack', 'formats.js'))});
console.log(packFormats.map((f) => f.name).join(','));`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
      expect(r.stderr, first).toBe('');
      expect(r.stdout.trim(), first).toBe('tarball,docker,oci,squashfs');
    }
  });

  it('suggests the closest format and lists all for an unknown name', () => {
    expect(() => findPackFormat('squashf')).toThrow(/unknown pack format `squashf`; did you mean `squashfs`\? \(formats: tarball, docker, oci, squashfs; see --list-formats\)/);
    expect(() => findPackFormat('rpm')).toThrow(/unknown pack format `rpm` \(formats: tarball, docker, oci, squashfs/);
  });
});

describe('bad input', () => {
  const cases: Array<[string, (input: PackInput) => PackInput, PackOptions, RegExp]> = [
    ['an unknown compressor', (i) => i, { compression: 'gzp' }, /unknown compressor `gzp`; did you mean `gzip`/],
    ['maxLayers < 2', (i) => i, { maxLayers: 1 }, /--max-layers must be an integer of at least 2/],
    ['an absolute -S target', (i) => ({ ...i, symlinks: [{ link: '/bin', target: '/bin' }] }), {}, /target must be a path relative to the profile.*use `bin`/],
    ['a -S target missing from the profile', (i) => ({ ...i, symlinks: [{ link: '/lib', target: 'lib' }] }), {}, /the profile has no `lib`/],
    ['an entry point missing from the profile', (i) => ({ ...i, entryPoint: 'bin/nope' }), {}, /entry point `bin\/nope` is not in the profile/],
    ['an item outside the store', (i) => ({ ...i, items: [...i.items, { path: '/opt/x', physical: '/opt/x' }] }), {}, /`\/opt\/x` is not directly in the store directory/],
  ];
  for (const format of ['tarball', 'docker', 'oci', 'squashfs']) {
    for (const [what, edit, options, error] of cases) {
      // maxLayers only means something to the image formats.
      if (what === 'maxLayers < 2' && (format === 'tarball' || format === 'squashfs')) continue;
      it(`${format}: ${what} is a clear error and leaves no file`, async () => {
        const dest = join(dir, `pack${findPackFormat(format).extension()}`);
        await expect(findPackFormat(format).write(edit(closure.input), options, dest)).rejects.toThrow(error);
        expect(readdirSync(dir)).toEqual([]);
      });
    }
  }
});

describe('destination', () => {
  for (const format of ['tarball', 'docker', 'oci', 'squashfs']) {
    it(`${format}: a missing directory or a directory as destination is a clear error`, async () => {
      const f = findPackFormat(format);
      await expect(f.write(closure.input, {}, join(dir, 'no', 'such', 'pack'))).rejects.toThrow(/the directory `.*\/no\/such` does not exist/);
      await expect(f.write(closure.input, {}, dir)).rejects.toThrow(/it is a directory; give a file name/);
      expect(readdirSync(dir)).toEqual([]);
    });
  }
});

describe('progress', () => {
  for (const [format, options] of [
    ['tarball', {}],
    ['docker', { maxLayers: 3, references: undefined }],
    ['oci', {}],
  ] as const) {
    it(`${format} reports progress up to the total`, async () => {
      const calls: Array<[number, number]> = [];
      const input = { ...closure.input, references: closure.references, onProgress: (d: number, t: number) => void calls.push([d, t]) };
      const opts = { ...options, references: closure.references };
      await findPackFormat(format).write(input, opts, join(dir, `p-${format}`));
      expect(calls.length).toBeGreaterThan(0);
      const total = calls[0]![1];
      expect(calls.every(([d, t]) => t === total && d <= total)).toBe(true);
      expect(calls.at(-1)![0]).toBe(total);
    });
  }
});

describe('squashfs progress', () => {
  itWith(['mksquashfs'])('reads mksquashfs\'s progress bar up to the total', async () => {
    const calls: Array<[number, number]> = [];
    const input = { ...closure.input, onProgress: (d: number, t: number) => void calls.push([d, t]) };
    await findPackFormat('squashfs').write(input, { onWarning: () => {} }, join(dir, 'p.squashfs'));
    expect(calls.length).toBeGreaterThan(0);
    const last = calls.at(-1)!;
    expect(last[0]).toBe(last[1]);
    expect(calls.every(([d, t]) => d <= t && t > 0)).toBe(true);
    // Reading the bar does not change the image.
    await findPackFormat('squashfs').write(closure.input, { onWarning: () => {} }, join(dir, 'q.squashfs'));
    expect(readFileSync(join(dir, 'p.squashfs')).equals(readFileSync(join(dir, 'q.squashfs')))).toBe(true);
  });
});

describe('reproducibility', () => {
  itWith(['xz', 'zstd', 'mksquashfs'])(
    'two separate processes give identical bytes for every format and compressor',
    () => {
      const dist = ensureDist();
      const script = fileURLToPath(new URL('./fixtures/pack-all.mjs', import.meta.url));
      const inputFile = join(dir, 'input.json');
      writeFileSync(inputFile, JSON.stringify({ input: closure.input, references: [...closure.references] }));
      // The second in another umask, time zone and locale, with SOURCE_DATE_EPOCH set (as CI
      // jobs often have it): none of it may reach the bytes, nor stop a packer.
      const outputs = ['one', 'two'].map((name) => {
        const out = join(dir, name);
        const other = name === 'two';
        const env = other ? { ...process.env, TZ: 'Asia/Kolkata', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8', SOURCE_DATE_EPOCH: '1700000000' } : process.env;
        const r = spawnSync('/bin/sh', ['-c', `umask ${other ? '077' : '022'} && exec "$0" "$@"`, process.execPath, script, dist, inputFile, out], { encoding: 'utf8', env });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        return out;
      });
      const files = readdirSync(outputs[0]!).sort();
      expect(files.length).toBe(13);
      expect(readdirSync(outputs[1]!).sort()).toEqual(files);
      for (const f of files) {
        expect(readFileSync(join(outputs[0]!, f)).equals(readFileSync(join(outputs[1]!, f))), f).toBe(true);
      }
    },
    120_000,
  );
});
