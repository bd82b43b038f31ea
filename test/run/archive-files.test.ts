/**
 * Reading a docker-archive's files from its tar headers (for the podman and docker engines'
 * command check): layers applied in order with whiteouts, GNU long names and pax paths,
 * symlinks followed through any component; a compressed archive is not read.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCommandInImage, imageFiles, lookupImageFile } from '../../src/run/archive-files.js';

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

describe('imageFiles', () => {
  const image = makeImage();

  it('applies the layers in order, with whiteouts, long names and pax paths', () => {
    const files = imageFiles(image)!;
    expect(files.get('/usr/bin/prog')).toEqual({ kind: 'file', executable: true });
    expect(files.get('/usr/bin/data')).toEqual({ kind: 'file', executable: false });
    expect(files.has('/usr/bin/old')).toBe(false);
    expect(files.get(`/${longName}`)?.kind).toBe('file');
    expect(files.get(`/usr/bin/${'p'.repeat(150)}`)?.kind).toBe('file');
    expect(files.get('/bin')).toEqual({ kind: 'symlink', target: 'usr/bin', executable: false });
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
});
