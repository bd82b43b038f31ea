/**
 * The local store's database: which store paths are valid, their NAR hashes, references,
 * derivers and content addresses, the outputs of each stored derivation, GC roots, and the
 * temporary roots of running processes (what they added or are using, kept until they exit).
 *
 * It sits under `store.ts`, which alone decides when rows are written (after an item is
 * complete on disk). The schema follows Nix's (ValidPaths, Refs, DerivationOutputs) so its
 * tools and ideas carry over. SQLite runs in WAL mode, so readers never block the writer
 * and a crash loses at most uncommitted transactions; on a network file system (a home
 * directory on NFS, Lustre or GPFS, as HPC clusters have), with its rollback journal instead:
 * WAL's index is shared memory, which processes on two machines do not share. `better-sqlite3` is loaded on first
 * open, not at import, so commands that never touch the store start fast.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, statfsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { TsdslError, isTsdslError } from '../errors.js';
import { sleepSync } from './lock.js';

type Database = BetterSqlite3.Database;
type Statement<P extends unknown[] = unknown[], R = unknown> = BetterSqlite3.Statement<P, R>;

// The row types live in path-info.ts, which the declaration files of the public API import
// without reaching this module's better-sqlite3 types (a devDependency users do not have).
import type { NewPathInfo, PathInfo } from './path-info.js';
export type { NewPathInfo, PathInfo } from './path-info.js';

const SCHEMA_VERSION = '2';

// Nix's tables, as WITHOUT ROWID tables keyed by their primary key (schema 2): a row costs one
// B-tree instead of a table and its key's index, and the key serves lookups by referrer, which
// Nix's schema (and schema 1) indexed a third time.
const REFS = (name: string): string => `CREATE TABLE IF NOT EXISTS ${name} (
  referrer  INTEGER NOT NULL,
  reference INTEGER NOT NULL,
  PRIMARY KEY (referrer, reference),
  FOREIGN KEY (referrer) REFERENCES ValidPaths(id) ON DELETE CASCADE,
  FOREIGN KEY (reference) REFERENCES ValidPaths(id) ON DELETE RESTRICT
) WITHOUT ROWID;`;
const OUTPUTS = (name: string): string => `CREATE TABLE IF NOT EXISTS ${name} (
  drv  INTEGER NOT NULL,
  id   TEXT NOT NULL,
  path TEXT NOT NULL,
  PRIMARY KEY (drv, id),
  FOREIGN KEY (drv) REFERENCES ValidPaths(id) ON DELETE CASCADE
) WITHOUT ROWID;`;

/** Schema 1 → 2: Refs and DerivationOutputs become WITHOUT ROWID tables, without IndexReferrer. */
const MIGRATE_1_TO_2 = `
${REFS('Refs2')}
INSERT INTO Refs2 (referrer, reference) SELECT referrer, reference FROM Refs;
DROP TABLE Refs;
ALTER TABLE Refs2 RENAME TO Refs;
CREATE INDEX IndexReference ON Refs(reference);
${OUTPUTS('DerivationOutputs2')}
INSERT INTO DerivationOutputs2 (drv, id, path) SELECT drv, id, path FROM DerivationOutputs;
DROP TABLE DerivationOutputs;
ALTER TABLE DerivationOutputs2 RENAME TO DerivationOutputs;
CREATE INDEX IndexDerivationOutputs ON DerivationOutputs(path);
UPDATE Meta SET value = '2' WHERE key = 'schema';
`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS Meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ValidPaths (
  id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  path             TEXT UNIQUE NOT NULL,
  narHash          TEXT NOT NULL,
  registrationTime INTEGER NOT NULL,
  deriver          TEXT,
  narSize          INTEGER,
  ca               TEXT
);
${REFS('Refs')}
CREATE INDEX IF NOT EXISTS IndexReference ON Refs(reference);
${OUTPUTS('DerivationOutputs')}
CREATE INDEX IF NOT EXISTS IndexDerivationOutputs ON DerivationOutputs(path);
CREATE TABLE IF NOT EXISTS Roots (
  name TEXT PRIMARY KEY NOT NULL,
  path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS TempRoots (
  owner TEXT NOT NULL,
  path  TEXT NOT NULL,
  PRIMARY KEY (owner, path)
) WITHOUT ROWID;
`;

let driver: typeof BetterSqlite3 | undefined;

/**
 * better-sqlite3, its native part loaded. The package loads its `.node` file only when the first
 * database is opened, so an install whose script did not run (npm 12 skips the install scripts
 * of dependencies a project has not approved; `--ignore-scripts`) would fail there, deep in a
 * command; an in-memory database opened here turns that into one error saying what to run.
 */
export function loadDriver(): typeof BetterSqlite3 {
  if (!driver) {
    const require = createRequire(import.meta.url);
    let loaded: typeof BetterSqlite3;
    try {
      loaded = require('better-sqlite3') as typeof BetterSqlite3;
      new loaded(':memory:').close();
    } catch (e) {
      const first = ((e as Error).message.split('\n')[0] ?? '').replace(/\s*Tried:$/, '');
      const missing = /bindings file|Cannot find module|ERR_DLOPEN_FAILED|invalid ELF|NODE_MODULE_VERSION|was compiled against/.test(String((e as Error).message) + String((e as NodeJS.ErrnoException).code));
      throw new TsdslError(
        `cannot load the SQLite binding better-sqlite3, which tsdsl's store needs (${first}). ` +
          (missing
            ? 'Its native part is missing or was built for another Node.js: its install script did not run (npm 12 skips the install scripts of dependencies a project has not approved) or ran under another Node.js version. ' +
              'Run `npm rebuild better-sqlite3` in the directory that holds node_modules (in your own project, first `npm install-scripts approve better-sqlite3`), then try again.'
            : 'Run `npm install` in the tsdsl directory, then try again.'),
      );
    }
    driver = loaded;
  }
  return driver;
}

interface PathRow {
  id: number;
  path: string;
  narHash: string;
  registrationTime: number;
  deriver: string | null;
  narSize: number | null;
  ca: string | null;
}

// Rows per multi-row insert (register).
const ROWS = 64;
const rows = (n: number, row: string): string => Array.from({ length: n }, () => row).join(', ');
const INSERT_REFS = (n: number): string => `INSERT OR IGNORE INTO Refs (referrer, reference) VALUES ${rows(n, '(?, ?)')}`;
const INSERT_OUTPUTS = (n: number): string => `INSERT OR REPLACE INTO DerivationOutputs (drv, id, path) VALUES ${rows(n, '(?, ?, ?)')}`;

/** Rows of `width` values, run ROWS at a time through `many` and the rest one by one through `one`. */
class RowBatch {
  private readonly values: unknown[];
  private n = 0;

  constructor(
    private readonly many: Statement<unknown[]>,
    private readonly one: Statement<unknown[]>,
    private readonly width: number,
  ) {
    this.values = new Array<unknown>(ROWS * width);
  }

  add2(a: unknown, b: unknown): void {
    this.values[this.n++] = a;
    this.values[this.n++] = b;
    if (this.n === this.values.length) this.flush();
  }

  add3(a: unknown, b: unknown, c: unknown): void {
    this.values[this.n++] = a;
    this.values[this.n++] = b;
    this.values[this.n++] = c;
    if (this.n === this.values.length) this.flush();
  }

  private flush(): void {
    this.many.run(this.values);
    this.n = 0;
  }

  end(): void {
    for (let i = 0; i < this.n; i += this.width) this.one.run(this.values.slice(i, i + this.width));
    this.n = 0;
  }
}

/** Why a store whose file system is full was opened read-only (a query on a full disk). */
export const DISK_FULL = 'its file system is full';

/** How long a statement waits for another process's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 60_000;

/**
 * File systems (statfs's f_type) that several machines mount: NFS, SMB/CIFS (two), Lustre, GPFS,
 * BeeGFS, CephFS, 9p, and FUSE (sshfs and the like). SQLite's WAL keeps its index in shared
 * memory (the `-shm` file, mapped), which works among the processes of one machine only.
 */
const NETWORK_FILE_SYSTEMS = new Set([0x6969, 0xff534d42, 0xfe534d42, 0x0bd00bd0, 0x47504653, 0x19830326, 0x00c36400, 0x01021997, 0x65735546]);

/** The journal mode for a database in a directory of file system type `fsType` (undefined: unknown). */
export function journalModeFor(fsType: number | undefined): 'wal' | 'delete' {
  return fsType !== undefined && NETWORK_FILE_SYSTEMS.has(fsType) ? 'delete' : 'wal';
}

function fileSystemType(dir: string): number | undefined {
  try {
    return statfsSync(dir).type;
  } catch {
    return undefined;
  }
}

/**
 * Puts the database in journal mode `mode` (which the file keeps). Two processes opening a new
 * store at once both try to switch it, and SQLite answers the loser SQLITE_BUSY at once, without
 * waiting for its busy timeout: wait and look again.
 */
function setJournalMode(db: Database, mode: 'wal' | 'delete'): void {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      if (db.pragma('journal_mode', { simple: true }) !== mode) db.pragma(`journal_mode = ${mode.toUpperCase()}`);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > until) throw e;
      sleepSync(20);
    }
  }
}

/**
 * Opens a database this process may not write (another user's store, read-only files or mount),
 * creating nothing beside it. A reader of a WAL database needs its `-wal` and `-shm` files: while
 * its owner has the database open they are there, and SQLite reads through them (the `-shm`
 * read-only, or shared as any reader's when it may be written) and sees every commit. Once the
 * owner has closed it they are gone, everything is in the database file, and SQLite would make
 * them (ours, in their directory) or fail: the file is then read whole into memory, as Nix's
 * read-only store opens it `immutable` (better-sqlite3 takes no URI file names), so a commit made
 * meanwhile is not seen, and a checkpoint at that very moment can make a read fail (said then).
 * (The owner closing it between the check and the open could leave the two files made by us, where
 * we may write there: a narrow race, only for root or a store opened up to everyone.)
 */
function openReadOnly(Driver: typeof BetterSqlite3, file: string, why: string): Database {
  const unreadable = (e: unknown): TsdslError => unreadableDatabase(file, why, e);
  const header = Buffer.alloc(20);
  try {
    const fd = openSync(file, 'r');
    try {
      readSync(fd, header, 0, 20, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw unreadable(e);
  }
  // Bytes 18 and 19 of the header are 2 in WAL mode, 1 with a rollback journal.
  const wal = header[18] === 2;
  const walBytes = statSync(`${file}-wal`, { throwIfNoEntry: false })?.size;
  if (!wal || (walBytes !== undefined && existsSync(`${file}-shm`))) {
    let db: Database | undefined;
    try {
      db = new Driver(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      // A first read, which maps the -shm file: one a full disk left unsized fails here.
      db.pragma('schema_version');
      return db;
    } catch (e) {
      db?.close();
      // Nothing in the WAL: the file alone is the database, read whole below.
      if (!(wal && walBytes === 0)) throw unreadable(e);
    }
  }
  if ((walBytes ?? 0) > 0) {
    throw new TsdslError(
      `the store database ${file} has commits in ${file}-wal that only its owner can fold into it (its -shm file is gone): the store cannot be read without writing to it; ask its owner to run a tsdsl command on it (\`tsdsl verify\`), then try again`,
    );
  }
  for (let attempt = 0; ; attempt++) {
    let bytes: Buffer;
    let same: boolean;
    try {
      const before = statSync(file, { bigint: true });
      bytes = readFileSync(file);
      const after = statSync(file, { bigint: true });
      same = before.mtimeNs === after.mtimeNs && BigInt(bytes.length) === after.size;
    } catch (e) {
      throw unreadable(e);
    }
    if (same) {
      // As a database with a rollback journal: in memory, there is no WAL to read.
      bytes[18] = 1;
      bytes[19] = 1;
      return new Driver(bytes, { readonly: true, timeout: BUSY_TIMEOUT_MS });
    }
    if (attempt === 4) {
      throw new TsdslError(`the store database ${file} kept changing while it was read: its owner is writing to it (the store is opened read-only, so it is read whole); try again once that is done`);
    }
    sleepSync(100);
  }
}

/** The error of a store database this user may not read (a store opened read-only because of `why`). */
export function unreadableDatabase(file: string, why: string, e: unknown): TsdslError {
  return new TsdslError(
    `cannot read the store database ${file} (${(e as Error).message}): the store at ${dirname(dirname(file))} is opened read-only (${why}), and its database is not readable by you either; ask its owner to let others read it, or set TSDSL_ROOT to a store of your own`,
    { cause: e },
  );
}

/** Typed access to the store database; every method is synchronous. */
export class StoreDb {
  readonly db: Database;
  private readonly stmts: {
    pathId: Statement<[string], number>;
    validAmong: Statement<[string], string>;
    pathRow: Statement<[string], PathRow>;
    references: Statement<[number], string>;
    referrers: Statement<[number], string>;
    insertPath: Statement<[string, string, number, string | null, number, string | null]>;
    insertRef: Statement<unknown[]>;
    insertRefs: Statement<unknown[]>;
    insertOutput: Statement<unknown[]>;
    insertOutputs: Statement<unknown[]>;
    outputs: Statement<[string], { id: string; path: string }>;
    derivers: Statement<[string], string>;
    requisites: Statement<[string], string>;
    addRoot: Statement<[string, string]>;
    removeRoot: Statement<[string]>;
    roots: Statement<[], { name: string; path: string }>;
    allPaths: Statement<[], string>;
    allRefs: Statement<[], { referrer: string; reference: string }>;
    referrerRows: Statement<[number], { id: number; path: string }>;
    deleteRefsOf: Statement<[number]>;
    deletePath: Statement<[number]>;
    pathsInRange: Statement<[string, string, string, string], string>;
    danglingRefs: Statement<[], { referrer: string | null; reference: string | null }>;
    addTempRoot: Statement<[string, string]>;
    tempRoots: Statement<[], { owner: string; path: string }>;
    tempRootOwners: Statement<[], { owner: string }>;
    removeTempRoots: Statement<[string]>;
    removals: Statement<[], string>;
    countRemoval: Statement<[]>;
  };

  /** True when the schema is this version's and the database is for `storeDir` (nothing to create or migrate). */
  private current(storeDir: string): boolean {
    try {
      const meta = this.db.prepare<[string], string>('SELECT value FROM Meta WHERE key = ?').pluck();
      return meta.get('storeDir') === storeDir && meta.get('schema') === SCHEMA_VERSION;
    } catch {
      return false; // no Meta table yet
    }
  }

  /**
   * Opens (creating if needed) the database at `file` for the logical store `storeDir`;
   * refuses a database made for another store dir, whose paths would all be wrong. When the
   * database is new, `onCreate` runs first and may refuse it by throwing (nothing is kept).
   */
  constructor(
    private readonly file: string,
    storeDir: string,
    onCreate?: () => void,
    /** The journal mode; by default, the one for the file system the database is on. */
    readonly journalMode: 'wal' | 'delete' = journalModeFor(fileSystemType(dirname(file))),
    /**
     * Why the database is only read (another user's store, read-only files), or undefined: it is
     * then opened with SQLite's read-only flag, never set up or migrated, and every write refused.
     */
    readonly readOnly?: string,
  ) {
    const Driver = loadDriver();
    if (readOnly !== undefined) {
      this.db = openReadOnly(Driver, file, readOnly);
      try {
        this.db.pragma('foreign_keys = ON');
        this.db.pragma('temp_store = MEMORY');
        if (!this.readFailures(() => this.current(storeDir))) this.refuseOutdated(storeDir, onCreate);
      } catch (e) {
        this.db.close();
        throw e;
      }
    } else {
      this.db = new Driver(file, { timeout: BUSY_TIMEOUT_MS });
      // A database that cannot be set up is closed again: its open file would keep the file system busy.
      try {
        setJournalMode(this.db, journalMode);
        // NORMAL is safe in WAL mode: a crash or power loss can drop the last commits, never
        // corrupt; with a rollback journal, FULL is what keeps that promise.
        this.db.pragma(`synchronous = ${journalMode === 'wal' ? 'NORMAL' : 'FULL'}`);
        this.db.pragma('foreign_keys = ON');
        // Statement and savepoint journals in memory: in a temporary file, registering a graph's
        // derivations (tens of thousands of statements inside a transaction) wrote some 70,000
        // pages to it, twenty times the size of the database.
        this.db.pragma('temp_store = MEMORY');
        // An up-to-date database is only read here: opening takes no write lock, so read-only
        // commands work while another process writes, and gc opens a store on a full disk.
        if (!this.current(storeDir)) this.db.transaction(() => {
          this.db.exec(SCHEMA);
          const meta = this.db.prepare<[string], string>('SELECT value FROM Meta WHERE key = ?').pluck();
          const dir = meta.get('storeDir');
          if (dir === undefined) {
            // Throwing here rolls the new tables back: the file stays as it was.
            onCreate?.();
            const put = this.db.prepare('INSERT INTO Meta (key, value) VALUES (?, ?)');
            put.run('storeDir', storeDir);
            put.run('schema', SCHEMA_VERSION);
          } else if (dir !== storeDir) {
            throw new TsdslError(`the store database ${file} belongs to the store dir ${dir}, not ${storeDir}; use another TSDSL_ROOT for ${storeDir}, or set TSDSL_STORE_DIR=${dir}`);
          } else if (meta.get('schema') === '1') {
            this.db.exec(MIGRATE_1_TO_2);
          } else if (meta.get('schema') !== SCHEMA_VERSION) {
            throw new TsdslError(`the store database ${file} has schema version ${meta.get('schema') ?? '?'}, but this tsdsl understands ${SCHEMA_VERSION}; use a matching tsdsl version`);
          }
        }).immediate();
      } catch (e) {
        this.db.close();
        throw e;
      }
    }

    const db = this.db;
    // (Read-only, even preparing reads the schema, which can fail while the owner writes.)
    this.stmts = this.readFailures(() => ({
      removals: db.prepare<[], string>("SELECT value FROM Meta WHERE key = 'removals'").pluck(),
      countRemoval: db.prepare<[]>("INSERT INTO Meta (key, value) VALUES ('removals', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"),
      pathId: db.prepare<[string], number>('SELECT id FROM ValidPaths WHERE path = ?').pluck(),
      validAmong: db.prepare<[string], string>('SELECT path FROM ValidPaths WHERE path IN (SELECT value FROM json_each(?))').pluck(),
      pathRow: db.prepare<[string], PathRow>('SELECT * FROM ValidPaths WHERE path = ?'),
      references: db
        .prepare<[number], string>('SELECT v.path FROM Refs r JOIN ValidPaths v ON r.reference = v.id WHERE r.referrer = ? ORDER BY v.path')
        .pluck(),
      referrers: db
        .prepare<[number], string>('SELECT v.path FROM Refs r JOIN ValidPaths v ON r.referrer = v.id WHERE r.reference = ? ORDER BY v.path')
        .pluck(),
      // A path registered meanwhile (by another process) is left as it is: `changes` is 0.
      insertPath: db.prepare(
        'INSERT INTO ValidPaths (path, narHash, registrationTime, deriver, narSize, ca) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO NOTHING',
      ),
      insertRef: db.prepare(INSERT_REFS(1)),
      insertRefs: db.prepare(INSERT_REFS(ROWS)),
      insertOutput: db.prepare(INSERT_OUTPUTS(1)),
      insertOutputs: db.prepare(INSERT_OUTPUTS(ROWS)),
      outputs: db.prepare<[string], { id: string; path: string }>(
        'SELECT o.id, o.path FROM DerivationOutputs o JOIN ValidPaths v ON o.drv = v.id WHERE v.path = ? ORDER BY o.id',
      ),
      derivers: db
        .prepare<[string], string>('SELECT v.path FROM DerivationOutputs o JOIN ValidPaths v ON o.drv = v.id WHERE o.path = ? ORDER BY v.path')
        .pluck(),
      requisites: db
        .prepare<[string], string>(
          `WITH RECURSIVE closure(id) AS (
             SELECT id FROM ValidPaths WHERE path IN (SELECT value FROM json_each(?))
             UNION SELECT r.reference FROM Refs r JOIN closure c ON r.referrer = c.id)
           SELECT v.path FROM ValidPaths v JOIN closure c ON v.id = c.id ORDER BY v.path`,
        )
        .pluck(),
      addRoot: db.prepare('INSERT OR REPLACE INTO Roots (name, path) VALUES (?, ?)'),
      removeRoot: db.prepare('DELETE FROM Roots WHERE name = ?'),
      roots: db.prepare<[], { name: string; path: string }>('SELECT name, path FROM Roots ORDER BY name'),
      allPaths: db.prepare<[], string>('SELECT path FROM ValidPaths ORDER BY path').pluck(),
      allRefs: db.prepare<[], { referrer: string; reference: string }>(
        'SELECT a.path AS referrer, b.path AS reference FROM Refs r JOIN ValidPaths a ON r.referrer = a.id JOIN ValidPaths b ON r.reference = b.id',
      ),
      referrerRows: db.prepare<[number], { id: number; path: string }>(
        'SELECT v.id, v.path FROM Refs r JOIN ValidPaths v ON r.referrer = v.id WHERE r.reference = ?',
      ),
      deleteRefsOf: db.prepare('DELETE FROM Refs WHERE referrer = ?'),
      deletePath: db.prepare('DELETE FROM ValidPaths WHERE id = ?'),
      pathsInRange: db
        .prepare<[string, string, string, string], string>(
          'SELECT path FROM ValidPaths WHERE path > ? AND path < ? UNION SELECT path FROM DerivationOutputs WHERE path > ? AND path < ? ORDER BY 1',
        )
        .pluck(),
      // Foreign keys make these impossible, unless the database was edited with them off.
      danglingRefs: db.prepare<[], { referrer: string | null; reference: string | null }>(
        `SELECT a.path AS referrer, b.path AS reference FROM Refs r
           LEFT JOIN ValidPaths a ON r.referrer = a.id LEFT JOIN ValidPaths b ON r.reference = b.id
         WHERE a.id IS NULL OR b.id IS NULL`,
      ),
      addTempRoot: db.prepare('INSERT OR IGNORE INTO TempRoots (owner, path) VALUES (?, ?)'),
      tempRoots: db.prepare<[], { owner: string; path: string }>('SELECT owner, path FROM TempRoots ORDER BY owner, path'),
      tempRootOwners: db.prepare<[], { owner: string }>('SELECT DISTINCT owner FROM TempRoots'),
      removeTempRoots: db.prepare('DELETE FROM TempRoots WHERE owner = ?'),
    }));
    // Read-only, a failed read is said as such (the owner may be writing), and a write refused.
    if (readOnly !== undefined) {
      for (const [name, stmt] of Object.entries(this.stmts)) (this.stmts as Record<string, unknown>)[name] = this.guarded(stmt);
    }
  }

  /** A statement whose SQLite errors become `readFailures`' TsdslErrors. */
  private guarded<S extends object>(stmt: S): S {
    return new Proxy(stmt, {
      get: (target, key) => {
        const value = Reflect.get(target, key, target) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const r = this.readFailures(() => (value as (...a: unknown[]) => unknown).apply(target, args));
          // pluck(), raw() and the like return the statement itself: keep it guarded.
          return r === target ? this.guarded(target) : r;
        };
      },
    });
  }

  /**
   * Runs `fn` on a read-only database, saying its SQLite errors as TsdslErrors: a write is refused
   * as such, and a failed read blamed on its owner writing meanwhile (a read-only reader does
   * not, or cannot, take part in their locking), with the way out: run it again.
   */
  private readFailures<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? '');
      if (this.readOnly === undefined || isTsdslError(e) || !code.startsWith('SQLITE_')) throw e;
      if (code.startsWith('SQLITE_READONLY')) throw this.readOnlyError('writing to its database');
      throw new TsdslError(
        `reading the store database ${this.file} failed (${(e as Error).message}, ${code}): the store is opened read-only (${this.readOnly}), and a change its owner is making to it right now can make a read fail; run the command again (if it keeps failing, its owner's \`tsdsl verify\` checks it)`,
        { cause: e },
      );
    }
  }

  /** The error of a write through a read-only store. */
  readOnlyError(what: string): TsdslError {
    const root = dirname(dirname(this.file));
    const fix = this.readOnly === DISK_FULL ? 'free some space (`tsdsl gc` deletes the store items no root needs) and open it again' : 'set TSDSL_ROOT to a store of your own to write to';
    return new TsdslError(`the store at ${root} was opened read-only (${this.readOnly}), so ${what} is refused; ${fix}`);
  }

  /** Read-only, the database is not made, upgraded or moved to another store dir here: says why it cannot be used. */
  private refuseOutdated(storeDir: string, onCreate?: () => void): never {
    const meta = this.readFailures(() => {
      try {
        return new Map(this.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM Meta').all().map((r) => [r.key, r.value]));
      } catch (e) {
        if (!/no such table/.test((e as Error).message)) throw e;
        return undefined;
      }
    });
    const dir = meta?.get('storeDir');
    if (dir === undefined) {
      onCreate?.();
      throw new TsdslError(`the store database ${this.file} has no tables yet: nothing was stored at ${dirname(dirname(this.file))}`);
    }
    if (dir !== storeDir) {
      throw new TsdslError(`the store database ${this.file} belongs to the store dir ${dir}, not ${storeDir}; use another TSDSL_ROOT for ${storeDir}, or set TSDSL_STORE_DIR=${dir}`);
    }
    throw new TsdslError(
      `the store database ${this.file} has schema version ${meta?.get('schema') ?? '?'}, but this tsdsl understands ${SCHEMA_VERSION}; it is opened read-only (${this.readOnly}), so it cannot be upgraded here: its owner's next tsdsl command that writes (a build, \`tsdsl gc\`) upgrades it, or use a matching tsdsl version`,
    );
  }

  close(): void {
    this.db.close();
  }

  /**
   * Runs `fn` in a write transaction (a savepoint when nested); `fn` must be synchronous.
   * It takes the write lock up front: a deferred transaction that read first could not
   * upgrade once another process had committed (SQLite fails at once, without waiting).
   */
  transaction<T>(fn: () => T): T {
    if (this.readOnly !== undefined) throw this.readOnlyError('writing to its database');
    if (this.db.inTransaction) return this.db.transaction(fn)();
    return this.immediate(fn);
  }

  /** Runs `fn` holding the database write lock, excluding every other writer process. */
  exclusive<T>(fn: () => T): T {
    if (this.readOnly !== undefined) throw this.readOnlyError('taking its write lock');
    if (this.db.inTransaction) return fn();
    return this.immediate(fn);
  }

  /**
   * `fn` in a transaction that takes the write lock first. When another process holds it for
   * more than a second (a long write, or a `tsdsl gc` stopped with Ctrl-Z), says what it waits
   * for, then waits up to a minute more. (In WAL mode only taking the lock can be busy, before
   * `fn` runs, so trying again runs it once.)
   */
  private immediate<T>(fn: () => T): T {
    const tx = this.db.transaction(fn);
    this.db.pragma('busy_timeout = 1000');
    try {
      return tx.immediate();
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
      this.onWait(`waiting for the store database ${this.file}: another process holds its write lock (a tsdsl writing to it, a stopped one, or a sqlite3 with a transaction open)`);
      this.db.pragma('busy_timeout = 59000');
      return tx.immediate();
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /**
   * `fn` holding the write lock if it can be had within `waitMs`, without a word; undefined
   * when another process holds it longer (for work that may be left undone, such as cleaning up
   * after a failure, whose own error should not wait behind a message about the lock).
   */
  tryExclusive<T>(fn: () => T, waitMs: number): T | undefined {
    if (this.readOnly !== undefined) throw this.readOnlyError('taking its write lock');
    if (this.db.inTransaction) return fn();
    const tx = this.db.transaction(fn);
    this.db.pragma(`busy_timeout = ${waitMs}`);
    try {
      return tx.immediate();
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_BUSY') return undefined;
      throw e;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /** Told once a transaction waits for another process's write lock (default: a line on stderr). */
  onWait: (message: string) => void = (message) => process.stderr.write(`tsdsl: ${message}\n`);

  pathId(path: string): number | undefined {
    return this.stmts.pathId.get(path);
  }

  isValid(path: string): boolean {
    return this.stmts.pathId.get(path) !== undefined;
  }

  /**
   * How many times a process has removed unregistered files it had created (a failed lowering's
   * `.drv` files): a writer that sees it change while it wrote checks that its files are there.
   */
  removals(): number {
    return Number(this.stmts.removals.get() ?? 0);
  }

  /** Counts one more removal (inside the transaction that removes the files). */
  countRemoval(): void {
    this.stmts.countRemoval.run();
  }

  /** The valid paths among `paths`, in one query (many single lookups cost far more). */
  validAmong(paths: readonly string[]): Set<string> {
    if (paths.length === 0) return new Set();
    if (paths.length === 1) return this.isValid(paths[0]!) ? new Set(paths) : new Set();
    return new Set(this.stmts.validAmong.all(JSON.stringify(paths)));
  }

  queryPathInfo(path: string): PathInfo | undefined {
    const row = this.stmts.pathRow.get(path);
    if (!row) return undefined;
    return {
      path: row.path,
      narHash: row.narHash,
      narSize: row.narSize ?? 0,
      registrationTime: row.registrationTime,
      deriver: row.deriver ?? undefined,
      ca: row.ca ?? undefined,
      references: this.stmts.references.all(row.id),
    };
  }

  references(path: string): string[] | undefined {
    const id = this.pathId(path);
    return id === undefined ? undefined : this.stmts.references.all(id);
  }

  referrers(path: string): string[] | undefined {
    const id = this.pathId(path);
    return id === undefined ? undefined : this.stmts.referrers.all(id);
  }

  /** The closure of `paths` under references, sorted; invalid paths are ignored. */
  requisites(paths: readonly string[]): string[] {
    return this.stmts.requisites.all(JSON.stringify(paths));
  }

  derivationOutputs(drvPath: string): Record<string, string> {
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const row of this.stmts.outputs.all(drvPath)) out[row.id] = row.path;
    return out;
  }

  /** `.drv` files known to produce `outputPath`. */
  derivers(outputPath: string): string[] {
    return this.stmts.derivers.all(outputPath);
  }

  /**
   * Registers paths in one transaction. Rows are inserted before references so a batch
   * may refer to itself in any order; every reference must be valid afterwards. Paths
   * already valid (registered meanwhile by another process) are skipped.
   */
  register(infos: readonly NewPathInfo[]): void {
    this.transaction(() => {
      const ids = new Map<string, number>();
      const known = new Map<string, number>();
      for (const info of infos) {
        if (ids.has(info.path)) continue;
        const r = this.stmts.insertPath.run(info.path, info.narHash, info.registrationTime, info.deriver ?? null, info.narSize, info.ca ?? null);
        if (r.changes > 0) ids.set(info.path, Number(r.lastInsertRowid));
      }
      // References and outputs go ROWS at a time through one multi-row statement: a graph's
      // derivations have five times as many references as paths, and one statement per row
      // spends most of its time in the binding.
      const refs = new RowBatch(this.stmts.insertRefs, this.stmts.insertRef, 2);
      const outputs = new RowBatch(this.stmts.insertOutputs, this.stmts.insertOutput, 3);
      for (const info of infos) {
        const id = ids.get(info.path);
        if (id === undefined) continue;
        // Each path's rows once, even when it was listed twice.
        ids.delete(info.path);
        known.set(info.path, id);
        for (const ref of info.references) {
          let refId = ids.get(ref) ?? known.get(ref);
          if (refId === undefined) {
            refId = this.pathId(ref);
            // Many items share references (builder scripts, common inputs): look each up once.
            if (refId !== undefined) known.set(ref, refId);
          }
          if (refId === undefined) {
            throw new TsdslError(`cannot register ${info.path}: its reference ${ref} is not valid in the store; add or build it first`);
          }
          refs.add2(id, refId);
        }
        if (info.derivationOutputs) {
          for (const [name, path] of Object.entries(info.derivationOutputs)) outputs.add3(id, name, path);
        }
      }
      refs.end();
      outputs.end();
    });
  }

  addRoot(name: string, path: string): void {
    this.stmts.addRoot.run(name, path);
  }

  removeRoot(name: string): boolean {
    return this.stmts.removeRoot.run(name).changes > 0;
  }

  roots(): { name: string; path: string }[] {
    return this.stmts.roots.all();
  }

  /** Every valid path, sorted. */
  allValidPaths(): string[] {
    return this.stmts.allPaths.all();
  }

  /** Every reference edge between valid paths, as [referrer, reference] (self-references included). */
  allReferences(): Array<[referrer: string, reference: string]> {
    return this.stmts.allRefs.all().map((r) => [r.referrer, r.reference]);
  }

  /**
   * Valid paths and recorded derivation outputs whose base name starts with `<hash>-`: what
   * a lock keyed by that hash part (see `lock.ts`) may be protecting.
   */
  pathsWithHash(storeDir: string, hash: string): string[] {
    // `-` sorts just before `.`, so the range holds exactly the paths `<dir>/<hash>-…`.
    const lo = `${storeDir}/${hash}-`;
    const hi = `${storeDir}/${hash}.`;
    return this.stmts.pathsInRange.all(lo, hi, lo, hi);
  }

  /**
   * Removes `paths` from the valid set in one transaction, with their references, derivation
   * outputs and nothing else (roots and files are the caller's business). Refuses, changing
   * nothing, when a valid path outside `paths` still refers to one of them, so the database
   * never holds a reference to an invalid path. Paths that are not valid are ignored.
   */
  invalidatePaths(paths: readonly string[]): void {
    this.transaction(() => {
      const ids = new Map<number, string>();
      for (const p of paths) {
        const id = this.pathId(p);
        if (id !== undefined) ids.set(id, p);
      }
      for (const [id, path] of ids) {
        for (const referrer of this.stmts.referrerRows.all(id)) {
          if (!ids.has(referrer.id)) {
            throw new TsdslError(`cannot invalidate ${path}: the valid path ${referrer.path} still refers to it; invalidate that path too (referrers first), or keep both`);
          }
        }
      }
      // References out of the set go first, so no row is left pointing at a deleted path.
      for (const id of ids.keys()) this.stmts.deleteRefsOf.run(id);
      for (const id of ids.keys()) this.stmts.deletePath.run(id);
    });
  }

  /** Reference rows whose referrer or reference is not a valid path (there should be none). */
  danglingReferences(): Array<{ referrer: string | undefined; reference: string | undefined }> {
    return this.stmts.danglingRefs.all().map((r) => ({ referrer: r.referrer ?? undefined, reference: r.reference ?? undefined }));
  }

  /** Records `paths` as temporary roots of `owner` (a process token plus an instance id). */
  addTempRoots(owner: string, paths: Iterable<string>): void {
    this.transaction(() => {
      for (const p of paths) this.stmts.addTempRoot.run(owner, p);
    });
  }

  /** Every temporary root with its owner, live or not. */
  tempRoots(): Array<{ owner: string; path: string }> {
    return this.stmts.tempRoots.all();
  }

  /** The owners of temporary roots, live or not. */
  tempRootOwners(): string[] {
    return this.stmts.tempRootOwners.all().map((r) => r.owner);
  }

  /** Forgets the temporary roots of `owner`; returns how many there were. */
  removeTempRoots(owner: string): number {
    return this.stmts.removeTempRoots.run(owner).changes;
  }
}
