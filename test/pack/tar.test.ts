import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/pack/compress.js';
import { tarball } from '../../src/pack/formats.js';
import type { PackInput } from '../../src/pack/formats.js';
import { PackTree, TarWriter, checkPackInput, closureTree, planTar, tarHeader, tarSize, writeTar } from '../../src/pack/tar.js';
import { GREETING, STORE_DIR, makeClosure, storePath } from './fixtures/closure.js';
import type { FakeClosure } from './fixtures/closure.js';
import { itWith } from './fixtures/tools.js';

// One closure for the file (building it compiles a static program); a fresh output dir per test.
let base: string;
let closure: FakeClosure;
let dir: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tsdsl-tar-closure-'));
  closure = makeClosure(base);
});
afterAll(() => removeTree(base));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-tar-'));
});
afterEach(() => removeTree(dir));

function run(cmd: string, args: readonly string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function tarBytes(input: PackInput, prefix = './'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const entries = planTar(closureTree(checkPackInput(input)));
  const size = await writeTar(entries, (c) => void chunks.push(c), { prefix });
  const all = Buffer.concat(chunks);
  expect(all.length).toBe(size);
  return all;
}

/** Member lines of `tar -tv`: [mode, owner, size, date, time, name(, ->, target)]. */
function listing(file: string, numeric = true): string[][] {
  const out = run('tar', ['-tv', '--full-time', ...(numeric ? ['--numeric-owner'] : []), '-f', file]);
  return out
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/));
}

describe('tarball members', () => {
  itWith(['tar'])('is byte-identical to GNU tar run with the reproducibility flags', async () => {
    const ours = join(dir, 'ours.tar');
    writeFileSync(ours, await tarBytes(closure.input));
    // The same tree on disk, as GNU tar would see it.
    const stage = join(dir, 'stage');
    mkdirSync(join(stage, 'tsdsl'), { recursive: true });
    cpSync(join(base, 'store'), join(stage, 'tsdsl', 'store'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    chmodSync(join(stage, 'tsdsl', 'store'), 0o755);
    symlinkSync(`tsdsl/store/${closure.input.profile.split('/').pop()}/bin`, join(stage, 'bin'));
    const gnu = join(dir, 'gnu.tar');
    run('tar', [
      '--format=gnu', '--sort=name', '--owner=root:0', '--group=root:0', '--mtime=@1', '--mode=go-w', '--hard-dereference',
      '-cf', gnu, '-C', stage, './bin', './tsdsl',
    ]);
    expect(readFileSync(ours).equals(readFileSync(gnu))).toBe(true);
  });

  itWith(['tar'])('lists sorted members owned by 0/0 (root/root) dated 1970-01-01 00:00:01', async () => {
    const file = join(dir, 'p.tar');
    writeFileSync(file, await tarBytes(closure.input));
    const rows = listing(file);
    const names = rows.map((r) => r[5]!);
    expect(names[0]).toBe('./bin');
    expect(names).toContain('./tsdsl/');
    expect(names).toContain('./tsdsl/store/');
    expect(names.indexOf('./tsdsl/')).toBeLessThan(names.indexOf('./tsdsl/store/'));
    // GNU tar's --sort=name order: depth first, each directory's entries by bytes.
    const key = (n: string): string[] => n.replace(/\/$/, '').split('/');
    const sorted = [...names].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!));
        if (c !== 0) return c;
      }
      return x.length - y.length;
    });
    expect(names).toEqual(sorted);
    for (const r of rows) {
      expect(r[1]).toBe('0/0');
      expect(`${r[3]} ${r[4]}`).toBe('1970-01-01 00:00:01');
    }
    for (const r of listing(file, false)) expect(r[1]).toBe('root/root');
  });

  itWith(['tar'])('drops group and other write, and stores hard links as separate files', async () => {
    const file = join(dir, 'p.tar');
    writeFileSync(file, await tarBytes(closure.input));
    const rows = listing(file);
    const byName = new Map(rows.map((r) => [r[5]!, r]));
    const g = `./tsdsl/store/${closure.paths.greeting.split('/').pop()}`;
    expect(byName.get(`${g}/share/group-writable`)![0]).toBe('-rw-r--r--');
    expect(byName.get(`${g}/share/greeting.txt`)![0]).toBe('-r--r--r--');
    expect(byName.get(`${g}/share/`)![0]).toBe('dr-xr-xr-x');
    for (const n of ['data-1', 'data-2']) {
      expect(byName.get(`${g}/share/${n}`)![0]!.startsWith('-')).toBe(true);
      expect(byName.get(`${g}/share/${n}`)![2]).toBe('17');
    }
    expect(rows.some((r) => r[0]!.startsWith('h'))).toBe(false);
    // Member names longer than 100 bytes survive (GNU long names).
    expect(rows.some((r) => r[5]!.endsWith('/README-with-a-long-name-too.txt') && r[5]!.length > 100)).toBe(true);
  });

  itWith(['tar'])('makes -S links relative to their own directory', async () => {
    const input = { ...closure.input, symlinks: [{ link: '/usr/local/bin', target: 'bin' }, { link: '/etc/profile', target: 'etc/profile' }] };
    const file = join(dir, 'p.tar');
    writeFileSync(file, await tarBytes(input));
    const rows = listing(file);
    const profile = closure.input.profile.split('/').pop();
    const link = rows.find((r) => r[5] === './usr/local/bin')!;
    expect(link[0]!.startsWith('l')).toBe(true);
    expect(link[7]).toBe(`../../tsdsl/store/${profile}/bin`);
    expect(rows.find((r) => r[5] === './etc/profile')![7]).toBe(`../tsdsl/store/${profile}/etc/profile`);
    expect(rows.map((r) => r[5])).toEqual(expect.arrayContaining(['./usr/', './usr/local/', './etc/']));
  });

  it('keeps file names that are not UTF-8 byte for byte', async () => {
    const item = storePath('latin1-1.0');
    const phys = join(dir, 'latin1');
    mkdirSync(phys);
    const name = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1
    writeFileSync(Buffer.concat([Buffer.from(`${phys}/`), name]), 'x');
    const input = { ...closure.input, items: [...closure.input.items, { path: item, physical: phys }] };
    const bytes = await tarBytes(input);
    const expected = Buffer.concat([Buffer.from(`./tsdsl/store/${item.split('/').pop()}/`), name, Buffer.from([0])]);
    expect(bytes.includes(expected)).toBe(true);
  });

  itWith(['tar', 'unshare', 'gcc'])('unpacks with tar -C DIR and runs with unshare -mrf chroot DIR /bin/PROG', async (ctx) => {
    ctx.skip(closure.helloKind !== 'static', '`gcc -static` could not build the test program (is libc6-dev installed?)');
    const pack = join(dir, 'hello.tar.gz');
    await tarball.write(closure.input, {}, pack);
    const root = join(dir, 'unpacked');
    mkdirSync(root);
    run('tar', ['xf', pack, '-C', root]);
    expect(run('unshare', ['-mrf', 'chroot', root, '/bin/hello'])).toBe(GREETING);
  });
});

describe('TarWriter', () => {
  it('writes exactly tarSize bytes, in whole 10240-byte records', async () => {
    const tree = new PackTree();
    tree.file('/a', 'x'.repeat(1000));
    tree.file(`/${'long/'.repeat(30)}name`, 'y');
    tree.symlink('/l', 't'.repeat(150));
    tree.directory('/tmp', 0o1777);
    const entries = planTar(tree);
    for (const prefix of ['', './']) {
      const chunks: Buffer[] = [];
      const size = await writeTar(entries, (c) => void chunks.push(c), { prefix });
      expect(size).toBe(tarSize(entries, { prefix }));
      expect(Buffer.concat(chunks).length).toBe(size);
      expect(size % 10240).toBe(0);
    }
    expect(entries.find((e) => e.name.toString() === 'tmp')!.mode).toBe(0o1777);
  });

  it('streams a member of announced size and refuses a wrong size', async () => {
    const chunks: Buffer[] = [];
    const w = new TarWriter((c) => void chunks.push(c));
    await w.beginFile('x', 5);
    await w.raw(Buffer.from('hello'));
    await w.endFile();
    await w.finish();
    const all = Buffer.concat(chunks);
    expect(all.subarray(512, 517).toString()).toBe('hello');
    const w2 = new TarWriter(() => {});
    await w2.beginFile('y', 5);
    await w2.raw(Buffer.from('hey'));
    await expect(w2.endFile()).rejects.toThrow(/3 bytes written, 5 announced/);
  });

  it('encodes sizes of 8 GiB and more in base 256, like GNU tar', () => {
    const h = tarHeader(Buffer.from('big'), 0x30, 0o644, 2 ** 33 + 5, 1, undefined);
    expect(h[124]).toBe(0x80);
    expect(h.readUIntBE(130, 6)).toBe(2 ** 33 + 5);
    const small = tarHeader(Buffer.from('small'), 0x30, 0o644, 8 ** 11 - 1, 1, undefined);
    expect(small.subarray(124, 136).toString('latin1')).toBe('77777777777\0');
    // The checksum field: six octal digits, NUL, space.
    expect(small[154]).toBe(0);
    expect(small[155]).toBe(0x20);
  });
});

describe('checkPackInput', () => {
  it('reports every problem at once', () => {
    const input: PackInput = {
      ...closure.input,
      items: [...closure.input.items, { path: '/elsewhere/x', physical: join(dir, 'nope') }],
      symlinks: [{ link: 'bin', target: 'bin' }, { link: '/opt/x', target: '/bin' }, { link: '/lib', target: 'lib' }],
      entryPoint: 'bin/absent',
    };
    let message = '';
    try {
      checkPackInput(input);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/not directly in the store directory/);
    expect(message).toMatch(/\/elsewhere\/x.*does not exist|files of `\/elsewhere\/x` are missing/);
    // Link problems are reported once the items are valid.
    const links = () => checkPackInput({ ...closure.input, symlinks: input.symlinks, entryPoint: 'bin/absent' });
    expect(links).toThrow(/must be an absolute path/);
    expect(links).toThrow(/not an absolute path \(use `bin`\)/);
    expect(links).toThrow(/the profile has no `lib`/);
    expect(links).toThrow(/entry point `bin\/absent` is not in the profile/);
  });

  it('refuses links that clash with the store or overlap', () => {
    expect(() => checkPackInput({ ...closure.input, symlinks: [{ link: '/tsdsl', target: 'bin' }] })).toThrow(/clash with the store directory/);
    expect(() => checkPackInput({ ...closure.input, symlinks: [{ link: '/a', target: 'bin' }, { link: '/a/b', target: 'bin' }] })).toThrow(/overlap/);
    expect(() => checkPackInput({ ...closure.input, symlinks: [{ link: '/a', target: '../x' }] })).toThrow(/relative to the profile/);
  });

  it('resolves the entry point through the profile\'s absolute links', () => {
    const checked = checkPackInput(closure.input);
    expect(checked.entryPoint).toBe(`${closure.input.profile}/bin/hello`);
    const r = checked.closure.resolve(`${closure.input.profile}/bin/hello`);
    expect(r?.logical).toBe(`${closure.paths.hello}/bin/hello`);
    expect(checked.closure.resolve(`${STORE_DIR}/not-there`)).toBeUndefined();
  });
});
