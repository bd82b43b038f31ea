/**
 * Reading a docker-archive's files from its tar headers (for the podman and docker engines'
 * command check): layers applied in order with whiteouts, GNU long names and pax paths,
 * symlinks followed through any component; a compressed archive is not read.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCommandInImage, imageFiles, lookupImageFile } from '../../src/run/archive-files.js';
import { tarHeader } from '../../src/pack/tar.js';

const dir = mkdtempSync(join(tmpdir(), 'tsdsl-archive-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tar = (args: string[]) => {
  const r = spawnSync('tar', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
};
const longName = `${'d'.repeat(120)}/tool`;

/** An image of two layers: the second removes `usr/bin/old` by a whiteout and adds a pax-named file. */
function makeImage(): string {
  const one = join(dir, 'one');
  mkdirSync(join(one, 'usr/bin'), { recursive: true });
  mkdirSync(join(one, 'd'.repeat(120)));
  for (const f of ['usr/bin/prog', 'usr/bin/old', longName]) {
    writeFileSync(join(one, f), '#!/bin/sh\n');
    chmodSync(join(one, f), 0o755);
  }
  writeFileSync(join(one, 'usr/bin/data'), 'x');
  symlinkSync('usr/bin', join(one, 'bin'));
  symlinkSync('../bin/prog', join(one, 'usr/bin/alias'));
  const two = join(dir, 'two');
  mkdirSync(join(two, 'usr/bin'), { recursive: true });
  writeFileSync(join(two, 'usr/bin/.wh.old'), '');
  writeFileSync(join(two, `usr/bin/${'p'.repeat(150)}`), 'x');
  mkdirSync(join(dir, 'image/l1'), { recursive: true });
  mkdirSync(join(dir, 'image/l2'), { recursive: true });
  tar(['--format=gnu', '-cf', join(dir, 'image/l1/layer.tar'), '-C', one, '.']);
  tar(['--format=pax', '-cf', join(dir, 'image/l2/layer.tar'), '-C', two, '.']);
  writeFileSync(join(dir, 'image/manifest.json'), JSON.stringify([{ Config: 'c.json', Layers: ['l1/layer.tar', 'l2/layer.tar'] }]));
  const image = join(dir, 'image.tar');
  tar(['-cf', image, '-C', join(dir, 'image'), 'l1', 'l2', 'manifest.json']);
  return image;
}

/** A docker-archive of the given layer files (tar archives), in order. */
function archiveOf(name: string, layers: Record<string, string>): string {
  const at = join(dir, name);
  mkdirSync(at);
  const names: string[] = [];
  for (const [layer, file] of Object.entries(layers)) {
    mkdirSync(join(at, layer));
    copyFileSync(file, join(at, layer, 'layer.tar'));
    names.push(`${layer}/layer.tar`);
  }
  writeFileSync(join(at, 'manifest.json'), JSON.stringify([{ Config: 'c.json', Layers: names }]));
  const image = `${at}.tar`;
  tar(['-cf', image, '-C', at, ...Object.keys(layers), 'manifest.json']);
  return image;
}

/** A one-member pax layer whose pax `size` record (1024) replaces the header's 0, then `usr/bin/prog`. */
function paxSizedLayer(): string {
  const block = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  const record = (k: string, v: string) => {
    const body = ` ${k}=${v}\n`;
    let n = body.length + 1;
    while (`${n}${body}`.length !== n) n++;
    return `${n}${body}`;
  };
  const pax = Buffer.from(record('size', '1024'));
  const parts = [
    tarHeader(Buffer.from('PaxHeaders/big'), 0x78, 0o644, pax.length, 0, undefined),
    block(pax),
    tarHeader(Buffer.from('big'), 0x30, 0o644, 0, 0, undefined),
    Buffer.alloc(1024),
    tarHeader(Buffer.from('usr/bin/prog'), 0x30, 0o755, 0, 0, undefined),
    Buffer.alloc(1024),
  ];
  const file = join(dir, 'pax-size.tar');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

describe('imageFiles', () => {
  const image = makeImage();

  it('applies the layers in order, with whiteouts, long names and pax paths', () => {
    const files = imageFiles(image)!;
    expect(files.get('/usr/bin/prog')).toEqual({ kind: 'file' });
    expect(files.get('/usr/bin/data')).toEqual({ kind: 'file' });
    expect(files.has('/usr/bin/old')).toBe(false);
    expect(files.get(`/${longName}`)?.kind).toBe('file');
    expect(files.get(`/usr/bin/${'p'.repeat(150)}`)?.kind).toBe('file');
    expect(files.get('/bin')).toEqual({ kind: 'symlink', target: 'usr/bin' });
  });

  it('follows symlinks in any component', () => {
    const files = imageFiles(image)!;
    expect(lookupImageFile(files, '/bin/prog')?.kind).toBe('file');
    expect(lookupImageFile(files, '/bin/alias')?.kind).toBe('file');
    expect(lookupImageFile(files, '/bin')?.kind).toBe('directory');
    expect(lookupImageFile(files, '/bin/old')).toBeUndefined();
    expect(lookupImageFile(files, '/usr/bin/data/x')).toBeUndefined();
  });

  it('checks a command as the directory engines do, and passes what it cannot read', () => {
    expect(() => checkCommandInImage(image, 'prog', '/bin', '/')).not.toThrow();
    expect(() => checkCommandInImage(image, 'alias', '/nowhere:/usr/bin', '/')).not.toThrow();
    expect(() => checkCommandInImage(image, 'porg', '/bin', '/')).toThrow(/^command `porg` not found in PATH=\/bin in the image .*image\.tar; did you mean `prog`\?/);
    expect(() => checkCommandInImage(image, 'old', '/bin', '/')).toThrow(/command `old` not found/);
    expect(() => checkCommandInImage(image, '/usr/bin/old', '/bin', '/')).toThrow(/^command `\/usr\/bin\/old` does not exist in the image/);
    // A compressed archive is not read: the runtime will say what it says.
    tar(['-czf', join(dir, 'image.tar.gz'), '-C', join(dir, 'image'), 'l1', 'l2', 'manifest.json']);
    expect(imageFiles(join(dir, 'image.tar.gz'))).toBeUndefined();
    expect(() => checkCommandInImage(join(dir, 'image.tar.gz'), 'porg', '/bin', '/')).not.toThrow();
  });

  it('passes a command that may come from a directory bound into the container', () => {
    expect(() => checkCommandInImage(image, './run.sh', '/bin', '/work', ['/work'])).not.toThrow();
    expect(() => checkCommandInImage(image, '/tools/run.sh', '/bin', '/', ['/tools'])).not.toThrow();
    expect(() => checkCommandInImage(image, 'run.sh', '/tools:/bin', '/', ['/tools'])).not.toThrow();
    expect(() => checkCommandInImage(image, 'run.sh', '/bin', '/', ['/tools'])).toThrow(/command `run\.sh` not found/);
  });

  it("takes a pax size record over the header's size", () => {
    const image = archiveOf('pax-size', { l1: paxSizedLayer() });
    expect(lookupImageFile(imageFiles(image)!, '/usr/bin/prog')?.kind).toBe('file');
  });

  it("applies a layer's whiteouts to the layers below only, and puts entries where a lower symlink leads", () => {
    const one = join(dir, 'w1');
    mkdirSync(join(one, 'usr/bin'), { recursive: true });
    writeFileSync(join(one, 'usr/bin/gone'), '');
    symlinkSync('usr/bin', join(one, 'bin'));
    const two = join(dir, 'w2');
    mkdirSync(join(two, 'usr/bin'), { recursive: true });
    mkdirSync(join(two, 'bin'));
    writeFileSync(join(two, 'usr/bin/new'), '');
    writeFileSync(join(two, 'usr/bin/.wh..wh..opq'), '');
    writeFileSync(join(two, 'bin/through-link'), '');
    tar(['--format=gnu', '-cf', join(dir, 'w1.tar'), '-C', one, '.']);
    // The layer's own file comes before the opaque whiteout, and the directory bin/ is the lower symlink.
    tar(['--format=gnu', '--no-recursion', '-cf', join(dir, 'w2.tar'), '-C', two, './usr/bin/new', './usr/bin/.wh..wh..opq', './bin/through-link']);
    const files = imageFiles(archiveOf('whiteouts', { l1: join(dir, 'w1.tar'), l2: join(dir, 'w2.tar') }))!;
    expect(files.has('/usr/bin/new')).toBe(true);
    expect(files.has('/usr/bin/gone')).toBe(false);
    expect(files.has('/usr/bin/through-link')).toBe(true);
    expect(files.get('/bin')?.kind).toBe('symlink');
  });

  it('reads GNU sparse files as files', () => {
    const sparse = join(dir, 'sparse');
    mkdirSync(join(sparse, 'usr/bin'), { recursive: true });
    spawnSync('truncate', ['-s', '1M', join(sparse, 'usr/bin/holes')]);
    for (const format of ['gnu', 'pax']) {
      tar([`--format=${format}`, '--sparse', '-cf', join(dir, `sparse-${format}.tar`), '-C', sparse, '.']);
      const files = imageFiles(archiveOf(`sparse-${format}`, { l1: join(dir, `sparse-${format}.tar`) }))!;
      expect(files.get('/usr/bin/holes')?.kind, format).toBe('file');
    }
  });
});
