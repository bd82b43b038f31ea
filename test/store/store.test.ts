import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemFailure } from '../../src/errors.js';
import { DerivationHasher, finalizeDerivation, serializeDerivation } from '../../src/derivation/aterm.js';
import type { Derivation, FinalizedDerivation } from '../../src/derivation/aterm.js';
import { makeFixedOutputPath, makeTextPath, nix32Encode, parseStorePath, sha256 } from '../../src/derivation/hash.js';
import { StoreDb, journalModeFor } from '../../src/store/db.js';
import { DerivationFiles } from '../../src/store/drv-files.js';
import { narHash } from '../../src/store/nar.js';
import { leftoverOwnerDead, ownerAlive, ownerElsewhere, ownerToken } from '../../src/store/lock.js';
import { compileStoreModules } from './compile.js';
import { openStore, storeRootFromEnv } from '../../src/store/store.js';
import type { LocalStore } from '../../src/store/store.js';

const SD = '/tsdsl/store';
let root: string;
let work: string;
let store: LocalStore;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tsdsl-store-'));
  work = mkdtempSync(join(tmpdir(), 'tsdsl-work-'));
  store = openStore({ root, storeDir: SD, env: {}, durable: false });
});

afterEach(() => {
  store.close();
  for (const d of [root, work]) {
    spawnSync('chmod', ['-R', 'u+w', d]);
    rmSync(d, { recursive: true, force: true });
  }
});

function partial(fields: Partial<Derivation> & { outputNames?: string[] } = {}): Derivation {
  const { outputNames = ['out'], ...rest } = fields;
  const outputs: Derivation['outputs'] = {};
  for (const o of outputNames) outputs[o] = { path: '', hashAlgo: '', hash: '' };
  return { outputs, inputDrvs: {}, inputSrcs: [], system: 'x86_64-linux', builder: '/bin/sh', args: [], env: {}, ...rest };
}

function makeTree(dir: string, files = 3): void {
  mkdirSync(join(dir, 'sub/deep'), { recursive: true });
  writeFileSync(join(dir, 'README'), 'hello\n');
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho run\n');
  chmodSync(join(dir, 'run.sh'), 0o4755); // setuid must not survive
  symlinkSync('../README', join(dir, 'sub/link'));
  for (let i = 0; i < files; i++) writeFileSync(join(dir, 'sub/deep', `f${i}`), `file ${i}\n`.repeat(i % 50));
}

/** Every node under `p` in canonical form: no write bits, no setuid, mtime 1. */
function expectCanonical(p: string): void {
  const st = lstatSync(p);
  expect(st.mtimeMs, p).toBe(1000);
  if (st.isDirectory()) {
    expect(st.mode & 0o7777, p).toBe(0o555);
    for (const n of readdirSync(p)) expectCanonical(join(p, n));
  } else if (st.isFile()) {
    expect([0o444, 0o555], p).toContain(st.mode & 0o7777);
  }
}

async function expectIntact(s: LocalStore, path: string): Promise<void> {
  const info = s.queryPathInfo(path)!;
  const { hash, size } = await narHash(s.physicalPath(path));
  expect(info.narHash).toBe('sha256:' + nix32Encode(hash));
  expect(info.narSize).toBe(size);
}

describe('opening', () => {
  it('a closed store says so, as a TsdslError, not as SQLite', () => {
    const other = openStore({ root: mkdtempSync(join(tmpdir(), 'tsdsl-closed-')), storeDir: SD, env: {}, durable: false });
    other.close();
    expect(other.isOpen).toBe(false);
    expect(() => other.isValid(`${SD}/00000000000000000000000000000000-x`)).toThrow(/^the store at .* was closed; open it again with openStore\(\)/);
    other.close(); // closing twice is harmless
  });

  it('finds the root from the environment', () => {
    expect(storeRootFromEnv({ TSDSL_ROOT: '/x/y' })).toBe('/x/y');
    expect(storeRootFromEnv({ XDG_DATA_HOME: '/d' })).toBe('/d/tsdsl');
    expect(storeRootFromEnv({ HOME: '/home/u' })).toBe('/home/u/.local/share/tsdsl');
    expect(() => storeRootFromEnv({ TSDSL_ROOT: 'rel' })).toThrow(/not absolute/);
  });

  it('lays out store/ and var/db.sqlite and maps logical to physical paths', () => {
    expect(existsSync(join(root, 'store'))).toBe(true);
    expect(existsSync(join(root, 'var/db.sqlite'))).toBe(true);
    const p = makeTextPath('x', 'y', [], SD);
    expect(store.physicalPath(p)).toBe(join(root, 'store', p.slice(SD.length + 1)));
    expect(() => store.physicalPath('/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x')).toThrow(/not a store path in \/tsdsl\/store/);
  });

  it('an existing store asked for by root: a missing one is said as that root, not TSDSL_ROOT', () => {
    expect(() => openStore({ root: join(root, 'nothing-here'), storeDir: SD, env: {}, existing: true })).toThrow(
      /^there is no store at .*nothing-here \(the root given to openStore\(\)\): nothing was built there yet, or the root is misspelt$/,
    );
  });

  it('refuses a root made for another store dir', () => {
    expect(() => openStore({ root, storeDir: '/nix/store', env: {} })).toThrow(/belongs to the store dir \/tsdsl\/store, not \/nix\/store/);
  });

  it('refuses a lost or emptied database beside stored items, and says a damaged one is damaged, with the way out', () => {
    store.addTextToStore('kept', 'K', []);
    store.close();
    const db = join(root, 'var', 'db.sqlite');
    writeFileSync(db, '');
    expect(() => openStore({ root, storeDir: SD, env: {} })).toThrow(/the store database .*db\.sqlite is empty, but .*\/store holds 1 item: the database was lost or replaced\. Restore it from a backup; or, to start over, move/);
    rmSync(db);
    expect(() => openStore({ root, storeDir: SD, env: {} })).toThrow(/is missing, but/);
    // A valid SQLite file without the store's tables (what a failed `.recover` leaves).
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { exec(sql: string): void; close(): void };
    const other = new Sqlite(db);
    other.exec('CREATE TABLE lost_and_found (x)');
    other.close();
    // Refused again: the refusal made no tables in it.
    for (let i = 0; i < 2; i++) expect(() => openStore({ root, storeDir: SD, env: {} })).toThrow(/the store database .*db\.sqlite has no tables, but .*\/store holds 1 item: the database was lost or replaced/);
    rmSync(db);
    writeFileSync(db, 'not a database '.repeat(500));
    for (const f of ['db.sqlite-wal', 'db.sqlite-shm']) rmSync(join(root, 'var', f), { force: true });
    expect(() => openStore({ root, storeDir: SD, env: {} })).toThrow(/the store database .*db\.sqlite is damaged \(file is not a database\)\. Restore it from a backup .*; without one, move the store \(.*\) away and build again/);
    // A damaged database is no full disk: gc's reserve stays (freeing it would not help).
    const reserve = join(root, 'var', 'reserved');
    writeFileSync(reserve, Buffer.alloc(1 << 20));
    expect(() => openStore({ root, storeDir: SD, env: {}, useReserve: true })).toThrow(/is damaged/);
    expect(existsSync(reserve)).toBe(true);
    // The test's own handle, for afterEach.
    rmSync(root, { recursive: true, force: true });
    store = openStore({ root, storeDir: SD, env: {}, durable: false });
    expect(() => openStore({ root: 'relative/root', storeDir: SD, env: {} })).toThrow(/store root `relative\/root` is not absolute/);
  });

  it.skipIf(process.getuid?.() !== 0)('opens on a full disk when asked to give up its reserved space (tsdsl gc), and keeps 1 MiB reserved', () => {
    store.close();
    const mnt = mkdtempSync(join(tmpdir(), 'tsdsl-full-'));
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]).status).toBe(0);
    try {
      const r = join(mnt, 'root');
      const s = openStore({ root: r, storeDir: SD, env: {}, durable: false });
      s.addTextToStore('kept', 'K', []);
      // A write that fills the disk names the file it was writing, and registers nothing.
      let failure: unknown;
      try {
        s.addTextToStore('big', 'x'.repeat(6 << 20), []);
      } catch (e) {
        failure = e;
      }
      const said = systemFailure(failure)?.message ?? String(failure);
      const valid = s.allValidPaths();
      s.close();
      expect(said).toMatch(new RegExp(`^the file system is full \\(writing ${r}/store/[0-9a-z]{32}-big\\): no space is left`));
      expect(valid).toHaveLength(1);
      expect(lstatSync(join(r, 'var', 'reserved')).size).toBe(1 << 20);
      spawnSync('sh', ['-c', `cat /dev/zero > ${mnt}/filler`]);
      expect(() => openStore({ root: r, storeDir: SD, env: {} })).toThrow(/the file system is full .*no space is left\. Free some space and try again: `tsdsl gc`/);
      // A query (size, log, gc --list-dead) still answers: the store opens read-only, saying why.
      const q = openStore({ root: r, storeDir: SD, env: {}, readOnly: 'if-not-writable' });
      expect(q.readOnly).toBe('its file system is full');
      expect(q.allValidPaths()).toEqual(valid);
      expect(() => q.addTextToStore('more', 'M', [])).toThrow(/was opened read-only \(its file system is full\), so adding a file to it is refused; free some space \(`tsdsl gc`/);
      q.close();
      const g = openStore({ root: r, storeDir: SD, env: {}, useReserve: true });
      expect(g.allValidPaths()).toHaveLength(1);
      g.close();
      expect(existsSync(join(r, 'var', 'reserved'))).toBe(false);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
    store = openStore({ root, storeDir: SD, env: {}, durable: false });
  });

  it('a write that waits for another process holding the database lock says so, then goes on', async () => {
    const file = join(root, 'var', 'db.sqlite');
    // Another process takes the write lock for 2.5 s.
    const holder = spawn(process.execPath, ['-e', `const D=require('better-sqlite3');const d=new D(${JSON.stringify(file)});d.exec('BEGIN IMMEDIATE');console.log('held');setTimeout(()=>{d.exec('COMMIT');d.close()},2500)`], { cwd: dirname(dirname(dirname(fileURLToPath(import.meta.url)))), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((held) => holder.stdout!.once('data', () => held()));
    const waits: string[] = [];
    (store as unknown as { db: { onWait: (m: string) => void } }).db.onWait = (m) => waits.push(m);
    const path = store.addTextToStore('waited', 'W', []);
    expect(store.isValid(path)).toBe(true);
    expect(waits).toEqual([expect.stringMatching(/^waiting for the store database .*db\.sqlite: another process holds its write lock/)]);
    await new Promise((done) => holder.on('close', done));
  });

  it('migrates a schema 1 database, keeping every reference and output, and refuses a newer one', () => {
    const script = store.addTextToStore('builder.sh', 'make\n', []);
    const hasher = new DerivationHasher(SD);
    const a = finalizeDerivation(partial({ inputSrcs: [script], args: [script], outputNames: ['out', 'dev'] }), 'a', hasher);
    const b = finalizeDerivation(partial({ inputDrvs: { [a.drvPath]: ['dev'] }, inputSrcs: [script] }), 'b', hasher);
    store.writeDerivations([a, b]);
    store.close();
    // Back to schema 1 (rowid tables and IndexReferrer), as a store made before it changed.
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    const file = join(root, 'var/db.sqlite');
    const raw = new Sqlite(file);
    raw.exec(`
      CREATE TABLE R1 (referrer INTEGER NOT NULL, reference INTEGER NOT NULL, PRIMARY KEY (referrer, reference),
        FOREIGN KEY (referrer) REFERENCES ValidPaths(id) ON DELETE CASCADE, FOREIGN KEY (reference) REFERENCES ValidPaths(id) ON DELETE RESTRICT);
      INSERT INTO R1 SELECT referrer, reference FROM Refs; DROP TABLE Refs; ALTER TABLE R1 RENAME TO Refs;
      CREATE INDEX IndexReferrer ON Refs(referrer); CREATE INDEX IndexReference ON Refs(reference);
      CREATE TABLE O1 (drv INTEGER NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (drv, id),
        FOREIGN KEY (drv) REFERENCES ValidPaths(id) ON DELETE CASCADE);
      INSERT INTO O1 SELECT drv, id, path FROM DerivationOutputs; DROP TABLE DerivationOutputs; ALTER TABLE O1 RENAME TO DerivationOutputs;
      CREATE INDEX IndexDerivationOutputs ON DerivationOutputs(path);
      UPDATE Meta SET value = '1' WHERE key = 'schema';`);
    raw.close();
    store = openStore({ root, storeDir: SD, env: {}, durable: false });
    expect(store.queryReferences(b.drvPath)).toEqual([a.drvPath, script].sort());
    expect(store.queryReferences(a.drvPath)).toEqual([script]);
    expect(store.queryDerivationOutputs(a.drvPath)).toEqual({ dev: a.drv.outputs['dev']!.path, out: a.drv.outputs['out']!.path });
    expect(store.queryDerivers(b.drv.outputs['out']!.path)).toEqual([b.drvPath]);
    store.close();
    const check = new Sqlite(file);
    const tables = check.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE name IN ('Refs', 'DerivationOutputs', 'IndexReferrer')").all();
    expect(tables.map((t) => t.name).sort()).toEqual(['DerivationOutputs', 'Refs']);
    for (const t of tables) expect(t.sql).toMatch(/WITHOUT ROWID$/);
    expect(check.prepare("SELECT value FROM Meta WHERE key = 'schema'").pluck().get()).toBe('2');
    check.prepare("UPDATE Meta SET value = '3' WHERE key = 'schema'").run();
    check.close();
    expect(() => openStore({ root, storeDir: SD, env: {}, durable: false })).toThrow(/has schema version 3, but this tsdsl understands 2; use a matching tsdsl version/);
    const back = new Sqlite(file);
    back.prepare("UPDATE Meta SET value = '2' WHERE key = 'schema'").run();
    back.close();
    store = openStore({ root, storeDir: SD, env: {}, durable: false });
  });

  it('keeps SQLite\'s statement journals in memory, and the database in WAL mode', () => {
    // In a temporary file, registering 20,000 derivations wrote 280 MB of statement journal.
    const db = new StoreDb(join(root, 'var/db.sqlite'), SD);
    expect(db.db.pragma('temp_store', { simple: true })).toBe(2);
    expect(db.db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('uses the rollback journal on a network file system, where WAL\'s shared memory is per machine', () => {
    // statfs's f_type: NFS, Lustre, GPFS, SMB take the rollback journal; ext4, tmpfs, XFS and an unknown one WAL.
    expect([0x6969, 0x0bd00bd0, 0x47504653, 0xfe534d42].map(journalModeFor)).toEqual(['delete', 'delete', 'delete', 'delete']);
    expect([0xef53, 0x01021994, 0x58465342, undefined].map(journalModeFor)).toEqual(['wal', 'wal', 'wal', 'wal']);
    // A store made on a local disk and then opened from a network mount is switched (the file keeps the mode).
    store.close();
    const shared = new StoreDb(join(root, 'var/db.sqlite'), SD, undefined, 'delete');
    expect(shared.db.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(shared.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    shared.close();
    store = openStore({ root, storeDir: SD, env: {}, durable: false });
    expect(store.addTextToStore('after-switch', 'x', [])).toMatch(/-after-switch$/);
    const local = new StoreDb(join(root, 'var/db.sqlite'), SD);
    expect(local.db.pragma('journal_mode', { simple: true })).toBe('wal');
    local.close();
  });

  it('reads TSDSL_STORE_DIR and TSDSL_ROOT', () => {
    const other = mkdtempSync(join(tmpdir(), 'tsdsl-env-'));
    const s = openStore({ env: { TSDSL_ROOT: other, TSDSL_STORE_DIR: '/nix/store' }, durable: false });
    expect(s.storeDir).toBe('/nix/store');
    expect(s.root).toBe(other);
    s.close();
    rmSync(other, { recursive: true, force: true });
  });
});

describe('addTextToStore', () => {
  it('writes a read-only file with mtime 1 at the text path and registers it', () => {
    const p = store.addTextToStore('builder.sh', 'echo hi\n', []);
    expect(p).toBe(makeTextPath('builder.sh', 'echo hi\n', [], SD));
    const phys = store.physicalPath(p);
    expect(readFileSync(phys, 'utf8')).toBe('echo hi\n');
    expect(lstatSync(phys).mode & 0o7777).toBe(0o444);
    expect(lstatSync(phys).mtimeMs).toBe(1000);
    const info = store.queryPathInfo(p)!;
    expect(info.ca).toBe('text:sha256:' + nix32Encode(sha256('echo hi\n')));
    expect(info.references).toEqual([]);
    expect(info.narSize).toBe(120);
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
  });

  it('is idempotent', () => {
    let t = 100;
    const s = openStore({ root, storeDir: SD, env: {}, durable: false, now: () => t++ });
    const a = s.addTextToStore('t', 'same', []);
    const first = s.queryPathInfo(a)!.registrationTime;
    expect(s.addTextToStore('t', 'same', [])).toBe(a);
    expect(s.queryPathInfo(a)!.registrationTime).toBe(first);
    s.close();
  });

  it('records references and referrers, and requires references to be valid', () => {
    const a = store.addTextToStore('a', 'A', []);
    const b = store.addTextToStore('b', `uses ${a}`, [a]);
    expect(store.queryReferences(b)).toEqual([a]);
    expect(store.queryReferrers(a)).toEqual([b]);
    const missing = makeTextPath('nope', 'x', [], SD);
    expect(() => store.addTextToStore('c', 'C', [missing])).toThrow(/reference .*-nope is not valid in the store; add it first/);
    expect(() => store.queryReferences(missing)).toThrow(/is not valid in the store/);
  });

  it('replaces a stale unregistered file at the final path (crash after rename)', () => {
    const p = makeTextPath('t', 'good', [], SD);
    writeFileSync(store.physicalPath(p), 'half-writ');
    store.addTextToStore('t', 'good', []);
    expect(readFileSync(store.physicalPath(p), 'utf8')).toBe('good');
  });

  it('fsyncs in durable mode without changing the result', () => {
    const s = openStore({ root, storeDir: SD, env: {} });
    const p = s.addTextToStore('durable', 'x', []);
    expect(s.isValid(p)).toBe(true);
    s.close();
  });
});

describe('addToStoreFromPath', () => {
  it('adds a tree as a source path, normalised, with its NAR hash', async () => {
    makeTree(join(work, 'src'));
    const { hash } = await narHash(join(work, 'src'));
    const p = await store.addToStoreFromPath('src', join(work, 'src'));
    expect(p).toBe(makeFixedOutputPath('src', { method: 'recursive', algo: 'sha256', digest: hash }, SD));
    const phys = store.physicalPath(p);
    expectCanonical(phys);
    expect(readlinkSync(join(phys, 'sub/link'))).toBe('../README');
    expect(lstatSync(join(phys, 'run.sh')).mode & 0o7777).toBe(0o555);
    const info = store.queryPathInfo(p)!;
    expect(info.ca).toBe('fixed:r:sha256:' + nix32Encode(hash));
    await expectIntact(store, p);
    // Same content, same path, no second row.
    expect(await store.addToStoreFromPath('src', join(work, 'src'))).toBe(p);
  });

  it('adds a file flat and recursively with the paths Nix gives them', async () => {
    writeFileSync(join(work, 'a.nix'), '"a"\n');
    const other = openStore({ root: join(root, 'nix'), storeDir: '/nix/store', env: {}, durable: false });
    expect(await other.addToStoreFromPath('a.nix', join(work, 'a.nix'))).toBe('/nix/store/m1a49k28kbvny5dnbkymp1nia4b403q8-a.nix');
    writeFileSync(join(work, 'smash'), 'SMASH THE STATE');
    const flat = await other.addToStoreFromPath('output', join(work, 'smash'), { method: 'flat' });
    expect(flat).toBe(makeFixedOutputPath('output', { method: 'flat', algo: 'sha256', digest: sha256('SMASH THE STATE') }, '/nix/store'));
    expect(other.queryPathInfo(flat)!.ca).toBe('fixed:sha256:0d9n3r2i4m1zgy0wpqbsyabsfzgs952066bfp8gwvcg4mkr4r5g8');
    other.close();
  });

  it('explains bad sources', async () => {
    await expect(store.addToStoreFromPath('x', join(work, 'missing'))).rejects.toThrow(/it does not exist/);
    mkdirSync(join(work, 'dir'));
    await expect(store.addToStoreFromPath('x', join(work, 'dir'), { method: 'flat' })).rejects.toThrow(/not a regular file/);
    spawnSync('mkfifo', [join(work, 'dir/fifo')]);
    await expect(store.addToStoreFromPath('x', join(work, 'dir'))).rejects.toThrow(/is a FIFO/);
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
  });

  it('replaces a stale unregistered tree at the final path', async () => {
    makeTree(join(work, 'src'));
    const { hash } = await narHash(join(work, 'src'));
    const p = makeFixedOutputPath('src', { method: 'recursive', algo: 'sha256', digest: hash }, SD);
    mkdirSync(join(store.physicalPath(p), 'junk'), { recursive: true });
    chmodSync(store.physicalPath(p), 0o555);
    expect(await store.addToStoreFromPath('src', join(work, 'src'))).toBe(p);
    expect(existsSync(join(store.physicalPath(p), 'junk'))).toBe(false);
    await expectIntact(store, p);
  });

  it('breaks a stale lock left by a dead process', async () => {
    makeTree(join(work, 'src'));
    const { hash } = await narHash(join(work, 'src'));
    const p = makeFixedOutputPath('src', { method: 'recursive', algo: 'sha256', digest: hash }, SD);
    const dead = deadPid();
    writeFileSync(join(root, 'var/locks', `${parseStorePath(p).hash}.lock`), `${dead} 12345\n`);
    expect(await store.addToStoreFromPath('src', join(work, 'src'))).toBe(p);
    expect(existsSync(join(root, 'var/locks', `${parseStorePath(p).hash}.lock`))).toBe(false);
  });

  it('the next open removes the locks of dead processes, and keeps a live one', () => {
    const stale = join(root, 'var/locks', 'deadbeef.lock');
    const live = join(root, 'var/locks', 'cafebabe.lock');
    writeFileSync(stale, `${deadPid()} 12345\n`);
    writeFileSync(live, `${process.ppid} 0\n`);
    openStore({ root, storeDir: SD, env: {}, durable: false }).close();
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it("leaves what a process of another PID namespace or host holds: its pid means nothing here", () => {
    // This process's `where` (ownerToken's third field), and others made from it.
    const [ns, boot, host] = ownerToken().split(' ')[2]!.split('.') as [string, string, string];
    const otherNs = `ns1.${boot}.${host}`; // a container with its own PID namespace
    const otherHost = `${ns}.${boot}.00000000`; // a node sharing the store over NFS
    const rebooted = `${ns}.00000000.${host}`; // this host before a reboot: gone
    const dead = deadPid();
    expect(ownerAlive(`${dead} 12345 ${otherNs}`)).toBe(true);
    expect(ownerAlive(`${dead} 12345 ${otherHost}`)).toBe(true);
    expect(ownerAlive(`${dead} 12345 ${rebooted}`)).toBe(false);
    expect(ownerAlive(`${dead} 12345 ${ns}.${boot}.${host}`)).toBe(false);
    expect(ownerAlive(`${dead} 12345`)).toBe(false); // an older token
    // A build waiting for such an owner's lock says where it is (whether it runs cannot be told).
    expect([otherNs, otherHost, rebooted, `${ns}.${boot}.${host}`].map((w) => ownerElsewhere(`${dead} 12345 ${w}`))).toEqual([true, true, false, false]);
    // Opening the store (any command, verify too) keeps their build trees and locks; a dead one's of here goes.
    const theirs = join(root, 'store/.tmp', `${dead}-12345-${otherNs}-1-build-zlib-1.2.13`);
    const mine = join(root, 'store/.tmp', `${dead}-12345-${ns}.${boot}.${host}-1-build-zlib-1.2.13`);
    mkdirSync(theirs);
    mkdirSync(mine);
    const lock = join(root, 'var/locks', 'feedface.lock');
    writeFileSync(lock, `${dead} 12345 ${otherHost}\n`);
    openStore({ root, storeDir: SD, env: {}, durable: false }).close();
    expect(existsSync(theirs)).toBe(true);
    expect(existsSync(mine)).toBe(false);
    expect(existsSync(lock)).toBe(true);
    // The same for the names of other temporaries (packs, unpacks, downloads, scratch directories).
    expect(leftoverOwnerDead(String(dead), `${ns.slice(2)}.${boot}.${host}`)).toBe(true);
    expect(leftoverOwnerDead(String(dead), `${otherNs.slice(2)}`)).toBe(false);
    expect(leftoverOwnerDead(String(dead), `${otherHost.slice(2)}`)).toBe(false);
    expect(leftoverOwnerDead(String(dead), ns.slice(2))).toBe(true); // an older name: ns only
    expect(leftoverOwnerDead(String(dead), '1')).toBe(false);
    expect(leftoverOwnerDead(String(process.pid), undefined)).toBe(false);
    // This store's own temporary names carry its `where`.
    const t = store.makeTempDir('x');
    expect(t.slice(t.lastIndexOf('/') + 1)).toMatch(new RegExp(`^${process.pid}-\\d+-${ns}\\.${boot}\\.${host}-\\d+-x$`));
  });

  it('waits for a lock held by a live owner', async () => {
    makeTree(join(work, 'src'));
    const { hash } = await narHash(join(work, 'src'));
    const p = makeFixedOutputPath('src', { method: 'recursive', algo: 'sha256', digest: hash }, SD);
    const lock = await store.lockPaths([p]);
    let done = false;
    const adding = store.addToStoreFromPath('src', join(work, 'src')).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    lock.release();
    expect(await adding).toBe(p);
  });

  it('stops waiting for a lock held by another process when its signal aborts (Ctrl-C)', async () => {
    const p = store.addTextToStore('held', 'H', []);
    const file = join(root, 'var/locks', `${parseStorePath(p).hash}.lock`);
    // Held by a live process that is not this one, and never released.
    writeFileSync(file, `${process.ppid} 0\n`);
    const controller = new AbortController();
    let waited = false;
    const locking = store.lockPaths([p], { signal: controller.signal, onWait: () => (waited = true) });
    setTimeout(() => controller.abort(), 100);
    await expect(locking).rejects.toThrow(/abort/i);
    expect(waited).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(`${process.ppid} 0\n`);
  });
});

describe('closures and roots', () => {
  it('computes requisites', () => {
    const a = store.addTextToStore('a', 'A', []);
    const b = store.addTextToStore('b', 'B', [a]);
    const c = store.addTextToStore('c', 'C', [b]);
    const d = store.addTextToStore('d', 'D', [a]);
    expect(store.queryRequisites([c])).toEqual([a, b, c].sort());
    expect(store.queryRequisites([c, d])).toEqual([a, b, c, d].sort());
    expect(store.queryRequisites([a])).toEqual([a]);
    expect(() => store.queryRequisites([makeTextPath('z', 'z', [], SD)])).toThrow(/not valid/);
  });

  it('adds, lists and removes GC roots', () => {
    const a = store.addTextToStore('a', 'A', []);
    expect(store.addRoot(a)).toBe(a.slice(SD.length + 1));
    expect(store.addRoot(a, 'profile')).toBe('profile');
    expect(store.listRoots()).toEqual([
      { name: a.slice(SD.length + 1), path: a },
      { name: 'profile', path: a },
    ]);
    expect(store.removeRoot('profile')).toBe(true);
    expect(store.removeRoot('profile')).toBe(false);
    expect(() => store.addRoot(makeTextPath('z', 'z', [], SD))).toThrow(/GC root target/);
  });
});

describe('derivations', () => {
  function graph(n: number, hasher = new DerivationHasher(SD)): FinalizedDerivation[] {
    const script = store.addTextToStore('builder.sh', 'make install\n', []);
    const out: FinalizedDerivation[] = [];
    for (let i = 0; i < n; i++) {
      const inputDrvs: Record<string, string[]> = {};
      for (let k = 1; k <= 3 && i - k * 5 >= 0; k++) inputDrvs[out[i - k * 5]!.drvPath] = ['out'];
      const outputNames = i % 4 === 0 ? ['out', 'dev'] : ['out'];
      out.push(finalizeDerivation(partial({ outputNames, inputDrvs, inputSrcs: [script], args: [script], env: { i: String(i) } }), `p${i}`, hasher));
    }
    return out;
  }

  it('writes, reads back and records outputs', () => {
    const [f] = graph(1);
    const drvPath = store.writeDerivation(f!.drv, 'p0');
    expect(drvPath).toBe(f!.drvPath);
    expect(readFileSync(store.physicalPath(drvPath), 'utf8')).toBe(f!.text);
    expect(serializeDerivation(store.readDerivation(drvPath))).toBe(f!.text);
    expect(store.queryDerivationOutputs(drvPath)).toEqual({ dev: f!.drv.outputs['dev']!.path, out: f!.drv.outputs['out']!.path });
    expect(store.queryDerivers(f!.drv.outputs['out']!.path)).toEqual([drvPath]);
    expect(store.queryReferences(drvPath)).toEqual(f!.drv.inputSrcs);
    expect(store.writeDerivation(f!.drv, 'p0')).toBe(drvPath);
  });

  it('checks output paths through stored inputs, as Nix does', () => {
    const fs = graph(6);
    store.writeDerivations(fs.slice(0, 5));
    // A fresh store handle has no memo: it must read p0 from disk to check p5.
    const fresh = openStore({ root, storeDir: SD, env: {}, durable: false });
    expect(fresh.writeDerivation(fs[5]!.drv, 'p5')).toBe(fs[5]!.drvPath);
    const bad = { ...fs[5]!.drv, outputs: { out: { path: fs[4]!.drv.outputs['out']!.path, hashAlgo: '', hash: '' } } };
    expect(() => fresh.writeDerivation(bad, 'p5')).toThrow(/has output `out` at/);
    fresh.close();
  });

  it('refuses a derivation whose inputs are not in the store', () => {
    const fs = graph(6);
    expect(() => store.writeDerivations([fs[5]!])).toThrow(/reference .*-p0\.drv is not valid in the store/);
    expect(store.isValid(fs[5]!.drvPath)).toBe(false);
  });

  it('writes a batch in any order in one go, idempotently', () => {
    const fs = graph(300);
    // Listed twice: registered once. (Over a thousand references and 375 outputs: several
    // multi-row statements and a remainder.)
    const shuffled = [...fs].reverse().concat(fs.slice(0, 3));
    expect(store.writeDerivations(shuffled)).toEqual(shuffled.map((f) => f.drvPath));
    for (const f of fs) {
      expect(store.isValid(f.drvPath)).toBe(true);
      expect(makeTextPath(`${f.name}.drv`, readFileSync(store.physicalPath(f.drvPath)), store.queryReferences(f.drvPath), SD)).toBe(f.drvPath);
      expect(store.queryDerivationOutputs(f.drvPath)).toEqual(Object.fromEntries(Object.entries(f.drv.outputs).map(([o, v]) => [o, v.path])));
    }
    expect(store.queryRequisites([fs[299]!.drvPath]).length).toBeGreaterThan(10);
    store.writeDerivations(fs);
  });

  it('replaces partial files a killed writer left at final names, and leaves every file whole and normalised', () => {
    const fs = graph(40);
    // What a writer killed mid-batch leaves: some files short at their final names, unregistered.
    for (const f of [fs[3]!, fs[17]!, fs[39]!]) writeFileSync(store.physicalPath(f.drvPath), f.text.slice(0, 20));
    store.writeDerivations(fs);
    for (const f of fs) {
      expect(readFileSync(store.physicalPath(f.drvPath), 'utf8')).toBe(f.text);
      expectCanonical(store.physicalPath(f.drvPath));
    }
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
    // Only the derivations nothing else in the batch uses are temporary roots; the rest are in their closures.
    const own = store.tempRoots({ includeOwn: true }).filter((p) => p.endsWith('.drv'));
    const used = new Set(fs.flatMap((f) => Object.keys(f.drv.inputDrvs)));
    expect(own).toEqual(fs.filter((f) => !used.has(f.drvPath)).map((f) => f.drvPath).sort());
    expect(store.queryRequisites(own)).toEqual(expect.arrayContaining(fs.map((f) => f.drvPath)));
  });

  it('registers the .drv files a DerivationFiles worker created while lowering, and writes what it could not', () => {
    const fs = graph(60);
    // A killed writer's leftovers (short, unregistered) at two final names: the worker finds the
    // names taken, and writeDerivations replaces them.
    for (const f of [fs[7]!, fs[41]!]) writeFileSync(store.physicalPath(f.drvPath), f.text.slice(0, 20));
    const files = new DerivationFiles(join(root, 'store'), SD, true, 10);
    for (const f of fs) files.add(f.drvPath, f.bytes ?? Buffer.from(f.text));
    store.writeDerivations(fs, files);
    for (const f of fs) {
      expect(store.isValid(f.drvPath)).toBe(true);
      expect(readFileSync(store.physicalPath(f.drvPath), 'utf8')).toBe(f.text);
      expectCanonical(store.physicalPath(f.drvPath));
    }
    // The worker created all but the two taken names, and synced them itself.
    expect(files.finish().created.size).toBe(58);
    expect(files.finish().synced).toBe(true);
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
  });

  it('a DerivationFiles worker stopped before registration leaves only whole, unregistered files, which the next write takes', () => {
    const fs = graph(30);
    const files = new DerivationFiles(join(root, 'store'), SD, false, 0);
    for (const f of fs) files.add(f.drvPath, f.bytes ?? Buffer.from(f.text));
    files.finish();
    files.abort();
    for (const f of fs) {
      expect(store.isValid(f.drvPath)).toBe(false);
      expect(readFileSync(store.physicalPath(f.drvPath), 'utf8')).toBe(f.text);
    }
    store.writeDerivations(fs);
    for (const f of fs) expect(store.isValid(f.drvPath)).toBe(true);
    // Below its threshold the writer starts no thread, and the store writes every file itself.
    const few = new DerivationFiles(join(root, 'store'), SD, true);
    few.add(fs[0]!.drvPath, fs[0]!.bytes);
    expect(few.finish().created.size).toBe(0);
  });

  /**
   * `n` derivations handed to a writer as build -d makes it (past its threshold of a thousand, a
   * worker starts), once the worker has created some of their files (the batches sent so far).
   */
  function lowering(n: number): { fs: ReturnType<typeof graph>; files: DerivationFiles } {
    const fs = graph(n);
    const files = store.derivationFiles();
    for (const f of fs) files.add(f.drvPath, f.bytes ?? Buffer.from(f.text));
    const first = store.physicalPath(fs[0]!.drvPath);
    for (let i = 0; i < 500 && !existsSync(first); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    expect(existsSync(first)).toBe(true);
    return { fs, files };
  }

  it('a DerivationFiles worker aborted before finish (lowering failed) deletes every file it created', () => {
    const { fs, files } = lowering(3000);
    files.abort();
    for (const f of fs) expect(existsSync(store.physicalPath(f.drvPath))).toBe(false);
    expect(files.finish().created.size).toBe(0);
  });

  it('a failed lowering elsewhere never deletes what another process registered under the same names', () => {
    const fs = graph(50);
    // Process A's worker created these files; process B then wrote the same derivations (the
    // names taken, it replaced them) and committed; A's lowering fails and A removes its files.
    const a = openStore({ root, storeDir: SD, env: {}, durable: false });
    for (const f of fs) writeFileSync(store.physicalPath(f.drvPath), f.text, { mode: 0o444 });
    store.writeDerivations(fs.slice(0, 30));
    a.removeUnregistered(fs.map((f) => store.physicalPath(f.drvPath)));
    for (const f of fs.slice(0, 30)) expect(readFileSync(store.physicalPath(f.drvPath), 'utf8')).toBe(f.text);
    for (const f of fs.slice(30)) expect(existsSync(store.physicalPath(f.drvPath))).toBe(false);
    // A removes them after B wrote its files but before B committed: B writes them again.
    const later = graph(80).slice(50);
    for (const f of later) writeFileSync(store.physicalPath(f.drvPath), f.text, { mode: 0o444 });
    const own = store as unknown as { writeNewFile: (dest: string, bytes: Uint8Array, label: string) => void };
    const write = own.writeNewFile;
    let written = 0;
    own.writeNewFile = function (dest, bytes, label) {
      write.call(this, dest, bytes, label);
      if (++written === later.length) a.removeUnregistered(later.map((f) => store.physicalPath(f.drvPath)));
    };
    try {
      store.writeDerivations([...fs.slice(30), ...later]);
    } finally {
      own.writeNewFile = write;
    }
    // Some were written twice: those A removed.
    expect(written).toBeGreaterThan(fs.length - 30 + later.length);
    for (const f of [...fs, ...later]) {
      expect(store.isValid(f.drvPath)).toBe(true);
      expect(readFileSync(store.physicalPath(f.drvPath), 'utf8')).toBe(f.text);
    }
    a.close();
  });

  it('a removal by a failed lowering while this one lowers (its worker creating files) is caught before the commit', () => {
    const { fs, files } = lowering(3000);
    // Another process's lowering failed; it had created the same files first (so it believes),
    // and removes the unregistered ones: this worker's.
    const a = openStore({ root, storeDir: SD, env: {}, durable: false });
    a.removeUnregistered(fs.map((f) => store.physicalPath(f.drvPath)));
    a.close();
    store.writeDerivations(fs, files);
    for (const f of fs) {
      expect(store.isValid(f.drvPath)).toBe(true);
      expect(readFileSync(store.physicalPath(f.drvPath), 'utf8')).toBe(f.text);
    }
  });

  it('batches text writes and derivations in one transaction', () => {
    const fs = graph(10);
    const paths = store.batch(() => {
      const t = store.addTextToStore('in-batch', 'x', []);
      store.writeDerivations(fs);
      return t;
    });
    expect(store.isValid(paths)).toBe(true);
    expect(() =>
      store.batch(() => {
        store.addTextToStore('rolled-back', 'y', []);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(store.isValid(makeTextPath('rolled-back', 'y', [], SD))).toBe(false);
  });
});

describe('registerPath', () => {
  it('normalises, scans references, and registers a build output', async () => {
    const dep = store.addTextToStore('dep', 'D', []);
    const unrelated = store.addTextToStore('unrelated', 'U', []);
    const out = `${SD}/${nix32Encode(sha256('out').subarray(0, 20))}-hello`;
    const tmp = store.makeTempDir('hello');
    mkdirSync(join(tmp, 'bin'));
    writeFileSync(join(tmp, 'bin/hello'), `#!${dep}/bin/sh\necho self is ${out}\n`);
    chmodSync(join(tmp, 'bin/hello'), 0o6777);
    const info = await store.registerPath(out, tmp, { referenceCandidates: [dep, unrelated, out], deriver: `${SD}/${'0'.repeat(32)}-hello.drv` });
    expect(info.references).toEqual([dep, out].sort());
    expect(info.deriver).toBe(`${SD}/${'0'.repeat(32)}-hello.drv`);
    expect(existsSync(tmp)).toBe(false);
    expectCanonical(store.physicalPath(out));
    await expectIntact(store, out);
    expect(store.queryReferrers(dep)).toEqual([out]);
  });

  it('registers outputs together: one may name another (in any order), none is valid if one fails, and cycles are refused', async () => {
    const path = (name: string) => `${SD}/${nix32Encode(sha256(`${name}-${process.pid}`).subarray(0, 20))}-${name}`;
    const item = (p: string, text: string) => {
      const tmp = store.makeTempDir();
      writeFileSync(join(tmp, 'f'), text);
      return tmp;
    };
    // doc names out, and comes first (outputs are registered in name order).
    const [doc, out] = [path('m-doc'), path('m')];
    const together = [doc, out];
    await store.registerPaths([
      { path: doc, tempPath: item(doc, `see ${out}`), options: { referenceCandidates: together } },
      { path: out, tempPath: item(out, 'program'), options: { referenceCandidates: together } },
    ]);
    expect(store.queryPathInfo(doc)!.references).toEqual([out]);
    expect(store.isValid(out)).toBe(true);
    // A missing second result: the first is not registered either.
    const [a, b] = [path('n-a'), path('n-b')];
    await expect(store.registerPaths([{ path: a, tempPath: item(a, 'x') }, { path: b, tempPath: join(store.makeTempDir(), 'gone') }])).rejects.toThrow(/does not exist/);
    expect(store.isValid(a)).toBe(false);
    // Two outputs naming each other.
    const [c, d] = [path('o-c'), path('o-d')];
    await expect(
      store.registerPaths([
        { path: c, tempPath: item(c, `uses ${d}`), options: { referenceCandidates: [c, d] } },
        { path: d, tempPath: item(d, `uses ${c}`), options: { referenceCandidates: [c, d] } },
      ]),
    ).rejects.toThrow(/the outputs refer to each other in a cycle \(.*-o-c → .*-o-d → .*-o-c\)/);
    expect(store.isValid(c) || store.isValid(d)).toBe(false);
    expect(existsSync(store.physicalPath(c)) || existsSync(store.physicalPath(d))).toBe(false);
  });

  it('keeps the first result when a path is registered twice', async () => {
    const out = `${SD}/${nix32Encode(sha256('twice').subarray(0, 20))}-x`;
    const t1 = store.makeTempDir();
    writeFileSync(join(t1, 'f'), 'first');
    await store.registerPath(out, t1);
    const t2 = store.makeTempDir();
    writeFileSync(join(t2, 'f'), 'second');
    await store.registerPath(out, t2);
    expect(readFileSync(join(store.physicalPath(out), 'f'), 'utf8')).toBe('first');
    expect(existsSync(t2)).toBe(false);
  });

  it('checks fixed outputs against their declared hash', async () => {
    const digest = sha256('tarball bytes');
    const out = makeFixedOutputPath('src.tar', { method: 'flat', algo: 'sha256', digest }, SD);
    const bad = store.makeTempDir();
    rmSync(bad, { recursive: true });
    writeFileSync(bad, 'other bytes');
    await expect(store.registerPath(out, bad, { fixed: { method: 'flat', algo: 'sha256', digest } })).rejects.toThrow(
      /hash mismatch in fixed output .*: expected sha256-.*, got sha256-/,
    );
    expect(store.isValid(out)).toBe(false);
    const good = join(store.makeTempDir(), 'file');
    writeFileSync(good, 'tarball bytes');
    const info = await store.registerPath(out, good, { fixed: { method: 'flat', algo: 'sha256', digest } });
    expect(info.ca).toBe('fixed:sha256:' + nix32Encode(digest));
  });

  it('uses a lock the caller already holds', async () => {
    const out = `${SD}/${nix32Encode(sha256('locked').subarray(0, 20))}-x`;
    const lock = await store.lockPaths([out]);
    const t = store.makeTempDir();
    writeFileSync(join(t, 'f'), 'x');
    await store.registerPath(out, t, { lock });
    lock.release();
    expect(store.isValid(out)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// Several processes. The children import the store modules transpiled with sucrase (as
// `npm run build` does) into a private directory, so running these tests does not touch
// dist/, which other test runs may be using.

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = join(here, '..', '..');
let compiled: string;

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

const CHILD = `
import { readFileSync, existsSync } from 'node:fs';
const [mod, aterm, root, op, ...args] = process.argv.slice(2);
const { openStore } = await import(mod);
const { DerivationHasher, finalizeDerivation } = await import(aterm);
const store = openStore({ root, storeDir: '/tsdsl/store', env: {} });
const go = args.pop();
console.log('ready');
const deadline = Date.now() + 30_000;
while (go !== '-' && !existsSync(go)) {
  if (Date.now() > deadline) { console.error('no go file'); process.exit(3); }
  await new Promise((r) => setTimeout(r, 5));
}
console.log('started');
const t0 = performance.now();
if (op === 'tree') {
  console.log('path ' + await store.addToStoreFromPath(args[1] ?? 'tree', args[0]));
} else if (op === 'text') {
  console.log('path ' + store.addTextToStore('text', readFileSync(args[0], 'utf8'), []));
} else if (op === 'drvs') {
  const hasher = new DerivationHasher('/tsdsl/store');
  const items = [];
  for (let i = 0; i < Number(args[0]); i++) {
    const inputDrvs = i > 0 ? { [items[i - 1].drvPath]: ['out'] } : {};
    items.push(finalizeDerivation({ outputs: { out: { path: '', hashAlgo: '', hash: '' } }, inputDrvs, inputSrcs: [], system: 'x86_64-linux', builder: '/bin/sh', args: [], env: { i: String(i), seed: args[1] ?? '', pad: 'x'.repeat(2000) } }, 'd' + i, hasher));
  }
  store.writeDerivations(items);
  console.log('path ' + items[items.length - 1].drvPath);
}
console.log('ms ' + Math.round(performance.now() - t0));
store.close();
`;

beforeAll(() => {
  compiled = compileStoreModules(projectRoot, '.cache-tsdsl-store-test-');
  writeFileSync(join(compiled, 'child.mjs'), CHILD);
});

afterAll(() => {
  rmSync(compiled, { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  output: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
  /** Loaded and waiting for the go file. */
  ready: Promise<void>;
  /** Working. */
  started: Promise<void>;
}

const running = new Set<ChildProcess>();

afterEach(() => {
  // A failed assertion must not leave children behind.
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
});

function child(storeRoot: string, op: string, args: string[], go = '-'): Child {
  const proc = spawn(
    process.execPath,
    [join(compiled, 'child.mjs'), join(compiled, 'src/store/store.js'), join(compiled, 'src/derivation/aterm.js'), storeRoot, op, ...args, go],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(proc);
  proc.on('exit', () => running.delete(proc));
  let stdout = '';
  let stderr = '';
  let onStart: () => void = () => {};
  let onReady: () => void = () => {};
  const started = new Promise<void>((r) => (onStart = r));
  const ready = new Promise<void>((r) => (onReady = r));
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('ready')) onReady();
    if (stdout.includes('started')) onStart();
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const output = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('close', (code, signal) => {
      onReady();
      onStart();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { proc, output, ready, started };
}

describe('several processes', () => {
  it('two processes adding the same tree agree, and one item is registered', async () => {
    makeTree(join(work, 'src'), 400);
    writeFileSync(join(work, 'text'), 'shared text\n'.repeat(1000));
    for (let round = 0; round < 3; round++) {
      const r = join(work, `root${round}`);
      const go = join(work, `go${round}`);
      const kids = [child(r, 'tree', [join(work, 'src')], go), child(r, 'tree', [join(work, 'src')], go), child(r, 'text', [join(work, 'text')], go), child(r, 'text', [join(work, 'text')], go)];
      await Promise.all(kids.map((k) => k.ready));
      writeFileSync(go, '');
      const results = await Promise.all(kids.map((k) => k.output));
      for (const res of results) expect(res.code, res.stderr).toBe(0);
      const paths = results.map((res) => /path (\S+)/.exec(res.stdout)![1]!);
      expect(paths[0]).toBe(paths[1]);
      expect(paths[2]).toBe(paths[3]);
      const s = openStore({ root: r, storeDir: SD, env: {}, durable: false });
      await expectIntact(s, paths[0]!);
      await expectIntact(s, paths[2]!);
      expectCanonical(s.physicalPath(paths[0]!));
      const db = spawnSync('node', ['-e', `const D=require('better-sqlite3');const d=new D(${JSON.stringify(join(r, 'var/db.sqlite'))});console.log(d.prepare('select count(*) c from ValidPaths').get().c)`], { cwd: projectRoot });
      expect(db.stdout.toString().trim()).toBe('2');
      expect(readdirSync(join(r, 'store/.tmp'))).toEqual([]);
      expect(readdirSync(join(r, 'var/locks'))).toEqual([]);
      s.close();
    }
  }, 60_000);

  it('kill -9 at any moment leaves nothing half-registered', async () => {
    makeTree(join(work, 'src'), 800);
    // Write the source back now, so the children's syncs do not pay for it and times are steady.
    spawnSync('sync', ['-f', join(work, 'src')]);
    // Time an uninterrupted run of each job, then kill runs at fractions of that time so
    // kills land while copying, hashing, renaming, syncing and committing. Each run adds
    // a different item (another name or seed), so every kill hits a fresh write.
    const timed = async (op: 'tree' | 'drvs'): Promise<number> => {
      const res = await child(join(work, `timing-${op}`), op, op === 'tree' ? [join(work, 'src'), 'timing'] : ['1500', 'timing']).output;
      expect(res.code, res.stderr).toBe(0);
      return Number(/ms (\d+)/.exec(res.stdout)![1]);
    };
    const times = { tree: await timed('tree'), drvs: await timed('drvs') };
    const r = join(work, 'killroot');
    let validSeen = 0;
    let run = 0;
    const checked = new Set<string>();
    for (const op of ['tree', 'drvs'] as const) {
      // The last fractions land after the commit even when a loaded machine slows the child down.
      for (const fraction of [0, 0.2, 0.45, 0.7, 0.9, 1.1, 1.6, 3, 6]) {
        run++;
        const k = child(r, op, op === 'tree' ? [join(work, 'src'), `tree${run}`] : ['1500', String(run)]);
        await k.started;
        await new Promise((res) => setTimeout(res, Math.round(fraction * times[op])));
        k.proc.kill('SIGKILL');
        await k.output;
        // Reopening cleans the dead writer's temporaries; whatever is valid must be whole.
        const s = openStore({ root: r, storeDir: SD, env: {}, durable: false });
        expect(readdirSync(join(r, 'store/.tmp'))).toEqual([]);
        const valid = spawnSync(
          'node',
          ['-e', `const D=require('better-sqlite3');const d=new D(${JSON.stringify(join(r, 'var/db.sqlite'))});console.log(JSON.stringify(d.prepare('select path from ValidPaths').pluck().all()))`],
          { cwd: projectRoot },
        );
        const paths = JSON.parse(valid.stdout.toString()) as string[];
        validSeen = paths.length;
        for (const p of paths) {
          // Committed items stay as they were; check each once, right after it appeared.
          if (checked.has(p)) continue;
          checked.add(p);
          await expectIntact(s, p);
          if (p.endsWith('.drv')) {
            // A registered .drv has exactly the bytes its path names, and its inputs are registered.
            const bytes = readFileSync(s.physicalPath(p));
            expect(makeTextPath(parseStorePath(p).name, bytes, s.queryReferences(p), SD)).toBe(p);
            for (const ref of s.queryReferences(p)) expect(s.isValid(ref)).toBe(true);
          }
        }
        s.close();
      }
    }
    // Some kills landed after a commit (else the test proves little).
    expect(validSeen).toBeGreaterThan(0);
    // The store still works after all that: finish both jobs.
    const tree = await child(r, 'tree', [join(work, 'src'), 'tree1']).output;
    const drvs = await child(r, 'drvs', ['1500', '2']).output;
    expect(tree.code, tree.stderr).toBe(0);
    expect(drvs.code, drvs.stderr).toBe(0);
    const s = openStore({ root: r, storeDir: SD, env: {}, durable: false });
    await expectIntact(s, /path (\S+)/.exec(tree.stdout)![1]!);
    expect(s.queryRequisites([/path (\S+)/.exec(drvs.stdout)![1]!])).toHaveLength(1500);
    s.close();
  }, 180_000);
});

describe('the store API refuses what it cannot store as asked', () => {
  it('stores the bytes a symlink names when added flat (as Nix), not the link', async () => {
    writeFileSync(join(work, 'real.txt'), 'hello\n');
    symlinkSync(join(work, 'real.txt'), join(work, 'link'));
    symlinkSync('real.txt', join(work, 'rel'));
    const viaLink = await store.addToStoreFromPath('f', join(work, 'link'), { method: 'flat' });
    const viaRel = await store.addToStoreFromPath('f', join(work, 'rel'), { method: 'flat' });
    expect(viaRel).toBe(viaLink);
    expect(await store.addToStoreFromPath('f', join(work, 'real.txt'), { method: 'flat' })).toBe(viaLink);
    const st = lstatSync(store.physicalPath(viaLink));
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o444);
    expect(readFileSync(store.physicalPath(viaLink), 'utf8')).toBe('hello\n');
    // The recorded NAR hash is the stored file's: a content check finds nothing wrong.
    expect(store.queryPathInfo(viaLink)!.narHash).toBe(`sha256:${nix32Encode((await narHash(store.physicalPath(viaLink))).hash)}`);
  });

  it('refuses an unknown ingestion method or option, and wrong argument types', async () => {
    makeTree(join(work, 'src'));
    await expect(store.addToStoreFromPath('src', join(work, 'src'), { method: 'nar' as 'flat' })).rejects.toThrow(/`method` must be 'flat' or 'recursive', not "nar"/);
    await expect(store.addToStoreFromPath('src', join(work, 'src'), { refs: [] } as object)).rejects.toThrow(/unknown field `refs`/);
    await expect(store.addToStoreFromPath(5 as unknown as string, join(work, 'src'))).rejects.toThrow(/`name` must be a non-empty string, not 5/);
    expect(() => store.addTextToStore(42 as unknown as string, 'x', [])).toThrow(/`name` must be a non-empty string/);
    expect(() => store.addTextToStore('a', 'x', undefined as unknown as string[])).toThrow(/takes an array of store paths as its references, not undefined/);
    expect(() => store.addTextToStore('a', 'x', `${SD}/x` as unknown as string[])).toThrow(/not a string: wrap it/);
    expect(() => store.addRoot(5 as unknown as string)).toThrow(/`storePath` must be a non-empty string/);
    expect(() => store.addRoot(`${SD}/x`, 'a/b')).toThrow(/neither a plain name .* nor an absolute file name/);
    expect(() => store.addTempRoots(`${SD}/x`)).toThrow(/not a string: wrap it/);
    expect(() => store.validAmong(`${SD}/x` as unknown as string[])).toThrow(/not a string: wrap it/);
    expect(() => store.queryRequisites(`${SD}/x` as unknown as string[])).toThrow(/not a string: wrap it/);
    await expect(store.registerPath(`${SD}/${'0'.repeat(32)}-x`, join(work, 'src'), { deriver: 'not a path' })).rejects.toThrow(/`deriver` must be the .drv path/);
    await expect(store.registerPath(`${SD}/${'0'.repeat(32)}-x`, join(work, 'src'), { refs: [] } as object)).rejects.toThrow(/unknown field `refs`/);
    expect(store.allValidPaths()).toEqual([]);
  });

  it('refuses to add a directory that holds the store (it would copy its own copy)', async () => {
    const inner = openStore({ root: join(work, 'proj/.tsdsl'), storeDir: SD, env: {}, durable: false });
    try {
      writeFileSync(join(work, 'proj/a'), 'a');
      await expect(inner.addToStoreFromPath('proj', join(work, 'proj'))).rejects.toThrow(/holds the store's own root/);
      await expect(inner.addToStoreFromPath('work', work)).rejects.toThrow(/holds the store's own root/);
      expect(readdirSync(join(work, 'proj/.tsdsl/store/.tmp'))).toEqual([]);
    } finally {
      inner.close();
    }
  });

  it('takes a .drv text only when it is a derivation with the right outputs (as Nix), and records its outputs', () => {
    expect(() => store.addTextToStore('garbage.drv', 'not a derivation', [])).toThrow(/is named as a derivation but is not one/);
    const f = finalizeDerivation(partial({ env: { name: 'x' } }), 'x', new DerivationHasher(SD));
    const wrong = serializeDerivation({ ...f.drv, outputs: { out: { path: `${SD}/${'0'.repeat(32)}-x`, hashAlgo: '', hash: '' } } });
    expect(() => store.addTextToStore('x.drv', wrong, [])).toThrow(/has output `out` at/);
    expect(store.allValidPaths()).toEqual([]);
    const path = store.addTextToStore('x.drv', f.text, []);
    expect(path).toBe(f.drvPath);
    expect(store.queryDerivationOutputs(path)).toEqual({ out: f.drv.outputs['out']!.path });
  });

  it('refuses every method on a closed store', async () => {
    store.close();
    expect(() => store.makeTempDir()).toThrow(/was closed/);
    await expect(store.lockPaths([])).rejects.toThrow(/was closed/);
    store = openStore({ root, storeDir: SD, env: {}, durable: false });
  });
});

describe('makeOwnedTempDir', () => {
  it('says which directory cannot hold it and what to do, naming TMPDIR when it is that', async () => {
    const { makeOwnedTempDir } = await import('../../src/store/lock.js');
    expect(() => makeOwnedTempDir(join(work, 'gone'), 'tsdsl-x')).toThrow(/^cannot make a temporary directory in .*\/gone: it does not exist; create it, or choose another directory$/);
    const made = makeOwnedTempDir(work, 'tsdsl-x');
    expect(made.startsWith(join(work, 'tsdsl-x-'))).toBe(true);
  });
});

describe('a store root inside another store', () => {
  it('is refused, naming the store it is inside (a new store would be made among its files)', () => {
    store.addTextToStore('a', 'A', []);
    for (const inner of ['store', 'var', 'var/log']) {
      expect(() => openStore({ root: join(root, inner), storeDir: SD, env: {}, durable: false })).toThrow(
        new RegExp(`^the store root ${root}/${inner} \\(the root given to openStore\\(\\)\\) is inside the store at ${root}, among its own files`),
      );
    }
    expect(existsSync(join(root, 'store', 'var'))).toBe(false);
  });
});
