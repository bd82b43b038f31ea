import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeSourcePath, nix32Encode } from '../../src/derivation/hash.js';
import { ReferenceScanner, narHash, narHashOfBytes, narHashWith, narOfFile, restoreNar, writeNar } from '../../src/store/nar.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-nar-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function narBytes(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const size = await writeNar(path, (c) => void chunks.push(c));
  const all = Buffer.concat(chunks);
  expect(all.length).toBe(size);
  return all;
}

const nix32 = (b: Buffer): string => nix32Encode(b);
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** Serialises NAR tokens, for hand-made (also invalid) archives. */
function str(s: string | Buffer, padByte = 0): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  const pad = Buffer.alloc((8 - (b.length % 8)) % 8, padByte);
  return Buffer.concat([len, b, pad]);
}
const nar = (...tokens: (string | Buffer)[]): Buffer => Buffer.concat(tokens.map((t) => str(t)));

describe('NAR serialisation (hash-path.sh, Guix tests/nar.scm)', () => {
  it('serialises `hi\\n` as 120 bytes with the known hash', async () => {
    writeFileSync(join(dir, 'hi'), 'hi\n');
    const bytes = await narBytes(join(dir, 'hi'));
    expect(bytes.length).toBe(120);
    expect(bytes.equals(nar('nix-archive-1', '(', 'type', 'regular', 'contents', 'hi\n', ')'))).toBe(true);
    const { hash, size } = await narHash(join(dir, 'hi'));
    expect(nix32(hash)).toBe('1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h');
    expect(size).toBe(120);
    expect(narOfFile('hi\n').equals(bytes)).toBe(true);
    expect(nix32(narHashOfBytes('hi\n').hash)).toBe('1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h');
  });

  it('hashes lone symlinks', async () => {
    symlinkSync('/non-existent-48cujwe8ndf4as0bne', join(dir, 'l1'));
    symlinkSync('/bin', join(dir, 'l2'));
    expect(nix32((await narHash(join(dir, 'l1'))).hash)).toBe('1bl5ry3x1fcbwgr5c2x50bn572iixh4j1p6ax5isxly2ddgn8pbp');
    expect(nix32((await narHash(join(dir, 'l2'))).hash)).toBe('0z2mdmkd43l0ijdxfbj1y8vzli15yh9b09n3a3rrygmjshbyypsw');
  });

  it('records the owner-execute bit and nothing else about permissions', async () => {
    const d = join(dir, 'd');
    mkdirSync(d);
    writeFileSync(join(d, 'hello'), 'Hello World\n');
    chmodSync(join(d, 'hello'), 0o644);
    expect(md5(await narBytes(d))).toBe('ea9b55537dd4c7e104515b2ccfaf4100');
    chmodSync(join(d, 'hello'), 0o600);
    expect(md5(await narBytes(d))).toBe('ea9b55537dd4c7e104515b2ccfaf4100');
    chmodSync(join(d, 'hello'), 0o744);
    expect(md5(await narBytes(d))).toBe('20f3ffe011d4cfa7d72bfabef7882836');
    chmodSync(join(d, 'hello'), 0o755);
    expect(md5(await narBytes(d))).toBe('20f3ffe011d4cfa7d72bfabef7882836');
    rmSync(join(d, 'hello'));
    symlinkSync('x', join(d, 'hello'));
    expect(md5(await narBytes(d))).toBe('f78b733a68f5edbdf9413899339eaa4a');
  });

  it('reproduces the Guix vectors', async () => {
    writeFileSync(join(dir, 'hello'), 'hello');
    expect(nix32((await narHash(join(dir, 'hello'))).hash)).toBe('0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa');

    const d1 = join(dir, 'd1');
    mkdirSync(d1);
    writeFileSync(join(d1, 'exe'), 'executable');
    chmodSync(join(d1, 'exe'), 0o777);
    symlinkSync('exe', join(d1, 'symlink'));
    mkdirSync(join(d1, 'subdir'));
    expect(nix32((await narHash(d1)).hash)).toBe('10k1lw41wyrjf9mxydi0is5nkpynlsvgslinics4ppir13g7d74p');

    const d2 = join(dir, 'd2');
    mkdirSync(d2);
    for (const n of ['B', 'Z', 'a']) writeFileSync(join(d2, n), '');
    symlinkSync('B', join(d2, 'z'));
    expect(nix32((await narHash(d2)).hash)).toBe('0sfn5r63k88w9ls4hivnvscg82bqg8a0w7955l6xlk4g96jnb2z3');
  });

  it('names a file added to the store like Nix (eval-okay-toJSON-peel, a.nix)', async () => {
    writeFileSync(join(dir, 'a.nix'), '"a"\n');
    const { hash } = await narHash(join(dir, 'a.nix'));
    expect(makeSourcePath('a.nix', hash, [], '/nix/store')).toBe('/nix/store/m1a49k28kbvny5dnbkymp1nia4b403q8-a.nix');
  });

  it('sorts entries by bytes, including non-ASCII and non-UTF-8 names', async () => {
    const d = Buffer.from(join(dir, 'bytes'));
    mkdirSync(d);
    const names = [Buffer.from('b'), Buffer.from('ä'), Buffer.from([0xff, 0x41]), Buffer.from('B'), Buffer.from('a')];
    for (const n of names) writeFileSync(Buffer.concat([d, Buffer.from('/'), n]), n);
    const bytes = await narBytes(d.toString());
    const order = [...names].sort(Buffer.compare);
    let at = 0;
    for (const n of order) {
      const idx = bytes.indexOf(str(n), at);
      expect(idx).toBeGreaterThan(at);
      at = idx;
    }
  });

  it('streams large files in pieces and agrees with an in-memory NAR', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    writeFileSync(join(dir, 'big'), big);
    const chunks: number[] = [];
    const size = await writeNar(join(dir, 'big'), (c) => void chunks.push(c.length));
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1024 * 1024);
    expect(size).toBe(narOfFile(big).length);
    expect((await narHash(join(dir, 'big'))).hash.equals(narHashOfBytes(big).hash)).toBe(true);
    const sha1 = await narHashWith(join(dir, 'big'), 'sha1');
    expect(sha1.hash.equals(createHash('sha1').update(narOfFile(big)).digest())).toBe(true);
  });

  it('refuses special files with a sentence', async () => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    await expect(narHash(join(dir, 'fifo'))).rejects.toThrow(/is a FIFO; only regular files, symlinks and directories can go in the store/);
  });
});

describe('restoreNar', () => {
  function makeTree(root: string): void {
    mkdirSync(root);
    writeFileSync(join(root, 'file'), 'contents\n');
    writeFileSync(join(root, 'exe'), '#!/bin/sh\n');
    chmodSync(join(root, 'exe'), 0o755);
    writeFileSync(join(root, 'empty'), '');
    mkdirSync(join(root, 'sub/deeper'), { recursive: true });
    writeFileSync(join(root, 'sub/deeper/seven'), '1234567');
    writeFileSync(join(root, 'sub/eight'), '12345678');
    symlinkSync('../file', join(root, 'sub/link'));
  }

  it('round-trips a tree from a buffer and from a chunked stream', async () => {
    makeTree(join(dir, 'src'));
    const bytes = await narBytes(join(dir, 'src'));
    await restoreNar(bytes, join(dir, 'a'));
    expect((await narBytes(join(dir, 'a'))).equals(bytes)).toBe(true);
    // Chunks of 3 bytes cross every token boundary.
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 3) pieces.push(bytes.subarray(i, i + 3));
    await restoreNar(Readable.from(pieces), join(dir, 'b'));
    expect((await narBytes(join(dir, 'b'))).equals(bytes)).toBe(true);
    expect(readlinkSync(join(dir, 'b/sub/link'))).toBe('../file');
    expect(lstatSync(join(dir, 'b/exe')).mode & 0o111).toBe(0o111);
    expect(readFileSync(join(dir, 'b/sub/deeper/seven'), 'utf8')).toBe('1234567');
  });

  it('restores a lone file', async () => {
    await restoreNar(narOfFile('x', true), join(dir, 'f'));
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('x');
    expect(lstatSync(join(dir, 'f')).mode & 0o100).toBe(0o100);
  });

  const head = ['nix-archive-1', '(', 'type', 'directory', 'entry', '(', 'name'];
  const fileNode = ['node', '(', 'type', 'regular', 'contents', 'x', ')', ')'];
  const invalid: [string, Buffer, RegExp][] = [
    ['an empty entry name', nar(...head, '', ...fileNode, ')'), /empty entry name/],
    ['a `.` entry', nar(...head, '.', ...fileNode, ')'), /`\.` is not allowed/],
    ['a `..` entry', nar(...head, '..', ...fileNode, ')'), /`\.\.` is not allowed/],
    ['a slash in a name', nar(...head, 'x/y', ...fileNode, ')'), /contains `\/`/],
    ['a NUL in a name', nar(...head, Buffer.from('x\0y'), ...fileNode, ')'), /NUL/],
    ['executable after contents', nar('nix-archive-1', '(', 'type', 'regular', 'contents', 'x', 'executable', '', ')'), /expected `\)`, found `executable`/],
    ['node before name', nar('nix-archive-1', '(', 'type', 'directory', 'entry', '(', 'node', '(', 'type', 'regular', 'contents', 'x', ')', 'name', 'a', ')', ')'), /expected `name`, found `node`/],
    ['an unknown tag', nar('nix-archive-1', '(', 'type', 'regular', 'contentz', 'x', ')'), /expected `contents`/],
    ['unsorted entries', nar(...head, 'b', ...fileNode, 'entry', '(', 'name', 'a', ...fileNode, ')'), /out of order or duplicated/],
    ['duplicate entries', nar(...head, 'a', ...fileNode, 'entry', '(', 'name', 'a', ...fileNode, ')'), /out of order or duplicated/],
    ['a wrong magic', nar('nix-archive-2', '(', 'type', 'regular', 'contents', 'x', ')'), /expected `nix-archive-1`/],
    ['an unknown type', nar('nix-archive-1', '(', 'type', 'fifo', ')'), /unknown node type `fifo`/],
    ['trailing data', Buffer.concat([narOfFile('x'), Buffer.alloc(8)]), /trailing data/],
    ['a truncated archive', narOfFile('hello').subarray(0, 70), /unexpected end of archive/],
  ];
  for (const [label, bytes, message] of invalid) {
    it(`rejects ${label}`, async () => {
      await expect(restoreNar(bytes, join(dir, 'out'))).rejects.toThrow(message);
    });
  }

  it('rejects non-zero padding', async () => {
    const good = nar('nix-archive-1', '(', 'type', 'regular', 'contents');
    const bad = Buffer.concat([good, str('x', 1), str(')')]);
    await expect(restoreNar(bad, join(dir, 'out'))).rejects.toThrow(/non-zero padding/);
    await restoreNar(Buffer.concat([good, str('x'), str(')')]), join(dir, 'ok'));
  });
});

describe('ReferenceScanner', () => {
  const h1 = '0c0q5zfqiknsvv3c6l2gqv07ngvvqhcb';
  const h2 = '1bl5ry3x1fcbwgr5c2x50bn572iixh4j';
  const h3 = 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz';

  it('finds hash parts anywhere in the stream, also across chunk boundaries', () => {
    const text = Buffer.from(`prefix /tsdsl/store/${h1}-foo/bin and ${h2}x but not ${h3.slice(1)}`);
    for (const size of [1, 7, 31, 32, 33, 1000]) {
      const s = new ReferenceScanner([h1, h2, h3]);
      for (let i = 0; i < text.length; i += size) s.feed(text.subarray(i, i + size));
      expect([...s.found()].sort()).toEqual([h1, h2].sort());
    }
  });

  it('scans the NAR of a tree while hashing it', async () => {
    mkdirSync(join(dir, 't'));
    writeFileSync(join(dir, 't/bin'), `#!/tsdsl/store/${h2}-bash/bin/sh\n`);
    symlinkSync(`/tsdsl/store/${h1}-lib`, join(dir, 't/lib'));
    const s = new ReferenceScanner([h1, h2, h3]);
    await narHash(join(dir, 't'), { scanner: s });
    expect([...s.found()].sort()).toEqual([h1, h2].sort());
  });
});
