import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compressors, findCompressor, openCompressedFile, removeTree, writeAtomically, writeCompressedFile } from '../../src/pack/compress.js';
import { ensureDist, itWith } from './fixtures/tools.js';
import { PID_NAMESPACE, ownerWhere } from '../../src/store/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-compress-'));
});
afterEach(() => removeTree(dir));

// Compressible but not trivial: text with some noise, several chunks long.
const DATA = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.concat([Buffer.from(`line ${i} `.repeat(3000)), randomBytes(2000)])));

async function compressFile(name: string, data: Buffer, level?: number): Promise<string> {
  const file = join(dir, `out-${name}`);
  const sink = openCompressedFile(file, findCompressor(name), level === undefined ? {} : { level });
  for (let off = 0; off < data.length; off += 100_000) await sink.write(data.subarray(off, off + 100_000));
  await sink.close();
  return file;
}

function decompress(command: string, file: string): Buffer {
  const r = spawnSync(command, ['-dc', file], { maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${command} -dc: ${r.stderr}`);
  return r.stdout;
}

describe('compressors table', () => {
  it('lists gzip, xz, zstd and none with their extensions', () => {
    expect(compressors.map((c) => [c.name, c.extension])).toEqual([
      ['gzip', '.gz'],
      ['xz', '.xz'],
      ['zstd', '.zst'],
      ['none', ''],
    ]);
  });

  it('suggests the closest name and lists all for an unknown one', () => {
    expect(() => findCompressor('zst')).toThrow(/unknown compressor `zst`; did you mean `zstd`\? \(compressors: gzip, xz, zstd, none/);
    expect(() => findCompressor('gzipp')).toThrow(/did you mean `gzip`/);
  });

  it('refuses a level out of range', () => {
    expect(() => findCompressor('gzip').open(1, { level: 12 })).toThrow(/level 12 is out of range for gzip; use an integer from 1 to 9/);
    expect(() => findCompressor('none').open(1, { level: 3 })).toThrow(/takes no compression level/);
  });
});

describe('compression', () => {
  itWith(['gzip'])('gzip writes no name and no timestamp, and gzip -d reads it back', async () => {
    const file = await compressFile('gzip', DATA);
    const bytes = readFileSync(file);
    expect([...bytes.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]); // no FNAME flag
    expect(bytes.readUInt32LE(4)).toBe(0); // mtime 0
    expect(decompress('gzip', file).equals(DATA)).toBe(true);
    const again = await compressFile('gzip', DATA);
    expect(readFileSync(again).equals(bytes)).toBe(true);
  });

  itWith(['xz'])('xz round-trips and gives the same bytes twice', async () => {
    const a = readFileSync(await compressFile('xz', DATA));
    expect(decompress('xz', join(dir, 'out-xz')).equals(DATA)).toBe(true);
    const b = readFileSync(await compressFile('xz', DATA));
    expect(a.equals(b)).toBe(true);
  });

  itWith(['zstd'])('zstd round-trips, ignores ZSTD_CLEVEL, and gives the same bytes twice', async () => {
    const a = readFileSync(await compressFile('zstd', DATA));
    expect(decompress('zstd', join(dir, 'out-zstd')).equals(DATA)).toBe(true);
    const saved = process.env.ZSTD_CLEVEL;
    process.env.ZSTD_CLEVEL = '1';
    try {
      const b = readFileSync(await compressFile('zstd', DATA));
      expect(a.equals(b)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.ZSTD_CLEVEL;
      else process.env.ZSTD_CLEVEL = saved;
    }
  });

  itWith(['zstd'])('feeds zstd through a blocking pipe, or through Node\'s pipe when mkfifo is missing, with the same bytes', async () => {
    const withPath = async <T>(tools: readonly string[], fn: () => Promise<T>): Promise<T> => {
      const bin = mkdtempSync(join(tmpdir(), 'tsdsl-path-'));
      for (const t of tools) symlinkSync(spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim(), join(bin, t));
      const saved = process.env.PATH;
      process.env.PATH = bin;
      try {
        return await fn();
      } finally {
        process.env.PATH = saved;
        removeTree(bin);
      }
    };
    // One buffer reused for every chunk, as the tar writer does with a synchronous compressor.
    const reusing = async (): Promise<string> => {
      const file = join(dir, 'out-zstd');
      const sink = openCompressedFile(file, findCompressor('zstd'));
      const buffer = Buffer.alloc(65536);
      for (let off = 0; off < DATA.length; off += buffer.length) {
        const n = DATA.copy(buffer, 0, off, off + buffer.length);
        await sink.write(buffer.subarray(0, n));
      }
      await sink.close();
      return file;
    };
    const blocking = readFileSync(await withPath(['zstd', 'mkfifo'], reusing));
    const queued = readFileSync(await withPath(['zstd'], reusing));
    expect(blocking.equals(queued)).toBe(true);
    expect(decompress('zstd', join(dir, 'out-zstd')).equals(DATA)).toBe(true);
    // The blocking pipe reports a missing command as clearly, and leaves nothing behind.
    const file = join(dir, 'missing');
    await expect(withPath(['mkfifo'], () => writeCompressedFile(file, findCompressor('zstd'), {}, async (sink) => sink.write(DATA)))).rejects.toThrow(
      /cannot run `zstd`: it is not installed or not on PATH/,
    );
    expect(existsSync(file)).toBe(false);
  });

  it('gives the event loop turns while a slow compressor takes its input (a signal is not held for long)', async () => {
    // xz -9 on random bytes takes them at about 1-2 MB/s: 4 MiB is seconds, far below the
    // 16 MiB after which a turn came before.
    const sink = openCompressedFile(join(dir, 'slow.xz'), findCompressor('xz'), { level: 9 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 50);
    try {
      const data = randomBytes(4 << 20);
      for (let off = 0; off < data.length; off += 256 << 10) await sink.write(data.subarray(off, off + (256 << 10)));
      expect(ticks).toBeGreaterThan(2);
    } finally {
      clearInterval(timer);
      await sink.close();
    }
  });

  it('reports a compressor that fails', async () => {
    const file = join(dir, 'bad');
    // xz with a level it rejects at run time is hard to provoke; a missing command is not.
    const saved = process.env.PATH;
    process.env.PATH = join(dir, 'empty-path');
    try {
      await expect(writeCompressedFile(file, findCompressor('zstd'), {}, async (sink) => sink.write(DATA))).rejects.toThrow(
        /cannot run `zstd`: it is not installed or not on PATH; install it \(Debian: `apt-get install zstd`\)/,
      );
    } finally {
      process.env.PATH = saved;
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('writeAtomically', () => {
  it('renames into place on success and leaves nothing on failure', async () => {
    const dest = join(dir, 'pack.tar');
    await writeAtomically(dest, async (tmp) => writeFileSync(tmp, 'one'));
    expect(readFileSync(dest, 'utf8')).toBe('one');
    await expect(
      writeAtomically(dest, async (tmp) => {
        writeFileSync(tmp, 'two, half written');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    // The old file is untouched and no temporary file is left.
    expect(readFileSync(dest, 'utf8')).toBe('one');
    expect(readdirSync(dir)).toEqual(['pack.tar']);
  });

  it('removes the temporaries left in the directory by a process that died (kill -9)', async () => {
    const out = join(dir, 'k9');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(out);
    // A pid that is not running (above the usual pid_max of 4194304), and this process's own.
    const dead = join(out, '.pack.tar.tmp-4194999-deadbeef');
    const live = join(out, `.pack.tar.tmp-${process.pid}-cafebabe`);
    // Of another pack too, named with the PID namespace as they are now.
    const other = join(out, `.other.tar.xz.tmp-4194998-ns${PID_NAMESPACE}-0badf00d`);
    // Not judged: a pack of another PID namespace (a container sharing the directory), and a
    // user's file that only looks alike (not one of the tags tsdsl writes).
    const foreign = join(out, '.p.tar.tmp-4194997-ns1-0badf00d');
    // Nor one of another host sharing the directory (NFS), named as they are now.
    const otherHost = join(out, `.q.tar.tmp-4194995-${ownerWhere().replace(/[0-9a-f]{8}$/, '00000000')}-0badf00d`);
    writeFileSync(otherHost, 'partial');
    const users = join(out, '.notes.txt.bak-4194996-0badf00d');
    for (const f of [dead, other, foreign, users]) writeFileSync(f, 'partial');
    writeFileSync(live, 'in use');
    await writeAtomically(join(out, 'pack.tar'), async (tmp) => {
      expect(basename(tmp)).toMatch(new RegExp(`^\\.pack\\.tar\\.tmp-${process.pid}-${ownerWhere().replaceAll('.', '\\.')}-[0-9a-f]{8}$`));
      writeFileSync(tmp, 'whole');
    });
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(other)).toBe(false);
    expect(existsSync(foreign) && existsSync(users) && existsSync(otherHost)).toBe(true);
    expect(existsSync(live)).toBe(true);
    expect(readFileSync(join(out, 'pack.tar'), 'utf8')).toBe('whole');
  });

  it('starts compressors and mksquashfs so that they die with tsdsl, even of kill -9', async () => {
    const dist = ensureDist();
    const script = join(dir, 'parent.mjs');
    // What the pack code does (dyingWithParent), with a program that would otherwise run on.
    writeFileSync(
      script,
      `const { dyingWithParent } = await import(${JSON.stringify(pathToFileURL(join(dist, 'child.js')).href)});
const [program, args] = dyingWithParent('sleep', ['300']);
const child = (await import('node:child_process')).spawn(program, args, { stdio: 'ignore' });
child.on('spawn', () => console.log(child.pid));
setInterval(() => {}, 1000);`,
    );
    const parent = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
    const alive = (): boolean => existsSync(`/proc/${pid}`) && !/^\S+ \([^)]*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    // setpriv sets the parent-death signal, then execs sleep: wait until it has.
    const program = (): string => (existsSync(`/proc/${pid}`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]! : '');
    for (let i = 0; i < 250 && !/sleep$/.test(program()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(program()).toMatch(/sleep$/);
    expect(alive()).toBe(true);
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    parent.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
  });

  it('removes the temporary file when the process is interrupted', async () => {
    const dist = ensureDist();
    const script = join(dir, 'interrupted.mjs');
    writeFileSync(
      script,
      `const { writeAtomically } = await import(${JSON.stringify(pathToFileURL(join(dist, 'pack', 'compress.js')).href)});
setInterval(() => {}, 1000);
await writeAtomically(${JSON.stringify(join(dir, 'out', 'pack.tar'))}, async (tmp) => {
  (await import('node:fs')).writeFileSync(tmp, 'partial');
  console.log('writing');
  await new Promise(() => {});
});`,
    );
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'out'));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    expect(readdirSync(join(dir, 'out')).length).toBe(1);
    const status = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGINT');
    expect(await status).toBe('SIGINT');
    expect(stderr).toBe('tsdsl: error: interrupted; the partly written files were removed\n');
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
    expect(existsSync(join(dir, 'out', 'pack.tar'))).toBe(false);
  });

  it('leaves the pack alone when the program handles the signal itself, and it finishes', async () => {
    const dist = ensureDist();
    const script = join(dir, 'handled.mjs');
    // A script with its own Ctrl-C handler: the pack being written goes on and lands.
    writeFileSync(
      script,
      `const { writeAtomically } = await import(${JSON.stringify(pathToFileURL(join(dist, 'pack', 'compress.js')).href)});
const fs = await import('node:fs');
let interrupted = false;
process.on('SIGINT', () => (interrupted = true));
await writeAtomically(${JSON.stringify(join(dir, 'own', 'pack.tar'))}, async (tmp) => {
  fs.writeFileSync(tmp, 'first half, ');
  process.kill(process.pid, 'SIGINT');
  while (!interrupted) await new Promise((r) => setTimeout(r, 10));
  fs.appendFileSync(tmp, 'second half');
});
console.log('done');`,
    );
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'own'));
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'done\n', '']);
    expect(readdirSync(join(dir, 'own'))).toEqual(['pack.tar']);
    expect(readFileSync(join(dir, 'own', 'pack.tar'), 'utf8')).toBe('first half, second half');
  });
});
