import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DerivationHasher, finalizeDerivation } from '../../src/derivation/aterm.js';
import type { Derivation } from '../../src/derivation/aterm.js';
import { closureSizes, closureTotals, collectGarbage, deadPaths, liveSet, referrersFirst, repairStore, verifyStore } from '../../src/store/gc.js';
import { openStore } from '../../src/store/store.js';
import { ownerWhere } from '../../src/store/lock.js';
import type { LocalStore } from '../../src/store/store.js';
import { compileStoreModules } from './compile.js';

const SD = '/tsdsl/store';
let root: string;
let work: string;
let store: LocalStore;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tsdsl-gc-'));
  work = mkdtempSync(join(tmpdir(), 'tsdsl-gc-work-'));
  store = openStore({ root, storeDir: SD, env: {}, durable: false });
});

afterEach(() => {
  store.close();
  for (const d of [root, work]) {
    spawnSync('chmod', ['-R', 'u+w', d]);
    rmSync(d, { recursive: true, force: true });
  }
});

/** A second handle on the same store, as another process would have. */
function other(): LocalStore {
  return openStore({ root, storeDir: SD, env: {}, durable: false });
}

let trees = 0;
/** A directory item registered as a build output would be, with `references`. */
async function output(name: string, references: string[] = []): Promise<string> {
  const dir = join(work, `tree${++trees}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'bin', name), `#!/bin/sh\n# ${references.join(' ')}\necho ${name}\n`.repeat(50));
  const path = `${SD}/${String(trees).padStart(32, '0')}-${name}`;
  await store.registerPath(path, dir, { references });
  return path;
}

/** A small graph: c → b → a, d → a, f → e, plus a source tree s and a lone text item t. */
async function graph() {
  const a = store.addTextToStore('a', 'A', []);
  const b = store.addTextToStore('b', `B ${a}`, [a]);
  const c = await output('c', [b]);
  const d = store.addTextToStore('d', `D ${a}`, [a]);
  const e = await output('e');
  const f = await output('f', [e]);
  mkdirSync(join(work, 'src/sub'), { recursive: true });
  writeFileSync(join(work, 'src/sub/file'), 'source\n');
  const s = await store.addToStoreFromPath('src', join(work, 'src'));
  const t = store.addTextToStore('t', 'T', []);
  return { a, b, c, d, e, f, s, t };
}

/** Every valid path's files exist and every reference is valid: the store invariant. */
function expectConsistent(s: LocalStore): void {
  for (const p of s.allValidPaths()) {
    expect(existsSync(s.physicalPath(p)), p).toBe(true);
    for (const r of s.queryReferences(p)) expect(s.isValid(r), `${p} → ${r}`).toBe(true);
  }
  expect(s.danglingReferences()).toEqual([]);
}

describe('collectGarbage', () => {
  it('keeps roots and everything they refer to, and deletes the rest', async () => {
    const g = await graph();
    store.addRoot(g.c, 'profile');
    store.addRoot(g.s);
    expect([...liveSet(store)].sort()).toEqual([g.a, g.b, g.c, g.s].sort());
    expect(deadPaths(store).sort()).toEqual([g.d, g.e, g.f, g.t].sort());

    const result = collectGarbage(store);
    expect([...result.deleted].sort()).toEqual([g.d, g.e, g.f, g.t].sort());
    // Referrers go before what they refer to.
    expect(result.deleted.indexOf(g.f)).toBeLessThan(result.deleted.indexOf(g.e));
    expect(result.freedBytes).toBeGreaterThan(0);
    for (const p of [g.a, g.b, g.c, g.s]) {
      expect(store.isValid(p)).toBe(true);
      expect(existsSync(store.physicalPath(p))).toBe(true);
    }
    for (const p of [g.d, g.e, g.f, g.t]) {
      expect(store.isValid(p)).toBe(false);
      expect(existsSync(store.physicalPath(p))).toBe(false);
    }
    expectConsistent(store);
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
    // Nothing is left to collect, and deleted items can be added again.
    expect(collectGarbage(store).deleted).toEqual([]);
    expect(store.addTextToStore('t', 'T', [])).toBe(g.t);
    expect(existsSync(store.physicalPath(g.t))).toBe(true);
  });

  it('deletes nothing on a dry run, and reports what it would delete', async () => {
    const g = await graph();
    store.addRoot(g.b);
    const dry = collectGarbage(store, { dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.deleted.sort()).toEqual([g.c, g.d, g.e, g.f, g.s, g.t].sort());
    expect(dry.freedBytes).toBe(dry.deleted.reduce((n, p) => n + store.queryPathInfo(p)!.narSize, 0));
    expect(store.allValidPaths()).toHaveLength(8);
    expect(collectGarbage(store).deleted.sort()).toEqual(dry.deleted.sort());
  });

  it('stops after --max-freed bytes, never breaking references', async () => {
    const g = await graph();
    const all = store.allValidPaths().length;
    const r = collectGarbage(store, { maxFreed: 1 });
    expect(r.deleted.length).toBeGreaterThan(0);
    expect(r.deleted.length).toBeLessThan(all);
    expect(r.freedBytes).toBeGreaterThanOrEqual(1);
    expectConsistent(store);
    // Referrers first: a path goes only after (or with) everything referring to it.
    if (r.deleted.includes(g.a)) expect(r.deleted).toEqual(expect.arrayContaining([g.b, g.c, g.d]));
  });

  it('treats an indirect root as live while its symlink leads to a valid item, the one it leads to now (as Nix does)', async () => {
    const g = await graph();
    const link = join(work, 'result');
    symlinkSync(store.physicalPath(g.f), link);
    store.addRoot(g.f, link);
    expect(store.listRoots()).toEqual([{ name: link, path: g.f, indirect: true, live: true }]);
    expect(liveSet(store).has(g.e)).toBe(true);
    collectGarbage(store);
    expect(store.isValid(g.f) && store.isValid(g.e)).toBe(true);

    // A link to the logical path counts too, and one to a file inside the item.
    unlinkSync(link);
    symlinkSync(g.f, link);
    expect(store.listRoots()[0]).toMatchObject({ path: g.f, live: true });
    unlinkSync(link);
    symlinkSync(join(store.physicalPath(g.f), 'bin', 'f'), link);
    expect(store.listRoots()[0]).toMatchObject({ path: g.f, live: true });
    // A link pointed at another item since roots that one: nothing it leads to is deleted.
    unlinkSync(link);
    symlinkSync(store.physicalPath(g.e), link);
    expect(store.listRoots()[0]).toMatchObject({ path: g.e, live: true });
    expect(collectGarbage(store).deleted).toContain(g.f);
    expect(store.isValid(g.e)).toBe(true);
    // One leading out of the store, or nowhere, roots nothing.
    unlinkSync(link);
    symlinkSync(work, link);
    expect(store.listRoots()[0]).toMatchObject({ live: false });
    unlinkSync(link);
    expect(store.listRoots()).toEqual([{ name: link, path: g.f, indirect: true, live: false }]);
    const r = collectGarbage(store);
    expect(r.deadRoots).toEqual([link]);
    expect(r.deleted).toContain(g.e);
    expect(store.listRoots()).toEqual([]);
  });

  it('follows an indirect root made through a symlinked TSDSL_ROOT (a home or scratch directory reached by a link)', async () => {
    const g = await graph();
    store.close();
    const via = join(work, 'root-link');
    symlinkSync(root, via);
    store = openStore({ root: via, storeDir: SD, env: {}, durable: false });
    const link = join(work, 'result');
    symlinkSync(store.physicalPath(g.f), link);
    store.addRoot(g.f, link);
    expect(store.listRoots()).toEqual([{ name: link, path: g.f, indirect: true, live: true }]);
    // Opened by its real path, the same link still roots the item.
    store.close();
    store = openStore({ root, storeDir: SD, env: {}, durable: false });
    const r = collectGarbage(store);
    expect(r.deadRoots).toEqual([]);
    expect(store.isValid(g.f) && store.isValid(g.e)).toBe(true);
  });

  it('keeps a path locked by a running build, and the inputs of that build', async () => {
    const g = await graph();
    const lock = await store.lockPaths([g.f]);
    expect(store.lockedPaths()).toEqual([g.f]);
    expect(deadPaths(store)).not.toContain(g.f);
    const r = collectGarbage(store);
    expect(r.deleted).not.toContain(g.f);
    expect(r.deleted).not.toContain(g.e);
    expect(store.isValid(g.f)).toBe(true);
    lock.release();
    expect(store.lockedPaths()).toEqual([]);
    expect(collectGarbage(store).deleted.sort()).toEqual([g.e, g.f].sort());
  });

  it("keeps what another live process added (its temporary roots) until it closes the store", async () => {
    const g = await graph();
    const b = other();
    const x = b.addTextToStore('x', `X ${g.t}`, [g.t]);
    expect(store.tempRoots()).toEqual([x]);
    expect(store.tempRoots({ includeOwn: true })).toContain(g.a);
    const r = collectGarbage(store);
    expect(store.isValid(x) && store.isValid(g.t)).toBe(true);
    expect(r.deleted).not.toContain(g.t);
    b.close();
    expect(store.tempRoots()).toEqual([]);
    expect(collectGarbage(store).deleted).toEqual([x, g.t]);
  });

  /** A builder script and two derivations written to the store, `top` built from `dep`. */
  const twoDerivations = () => {
    const hasher = new DerivationHasher(SD);
    const script = store.addTextToStore('builder.sh', 'make install\n', []);
    const drv = (name: string, inputDrvs: Record<string, string[]>): Derivation => ({
      outputs: { out: { path: '', hashAlgo: '', hash: '' } },
      inputDrvs,
      inputSrcs: [script],
      system: 'x86_64-linux',
      builder: '/bin/sh',
      args: [script],
      env: { name },
    });
    const dep = finalizeDerivation(drv('dep', {}), 'dep', hasher);
    const top = finalizeDerivation(drv('top', { [dep.drvPath]: ['out'] }), 'top', hasher);
    store.writeDerivations([dep, top]);
    return { script, dep, top };
  };

  it('keeps the outputs of derivations a running process wrote or builds, as its builds may use them', async () => {
    const { script, dep, top } = twoDerivations();
    const depOut = dep.drv.outputs['out']!.path;
    mkdirSync(join(work, 'dep-out'));
    writeFileSync(join(work, 'dep-out/lib'), 'lib\n');
    await store.registerPath(depOut, join(work, 'dep-out'), { deriver: dep.drvPath });

    // Another process instantiates `top` (its .drv is already valid: the write only roots it).
    const b = other();
    b.writeDerivations([top]);
    const live = liveSet(store);
    expect(live.has(top.drvPath) && live.has(dep.drvPath) && live.has(depOut)).toBe(true);
    expect(collectGarbage(store).deleted).toEqual([]);
    b.close();

    // Building `top` (its output locked, not valid yet) keeps the derivation and its inputs' outputs.
    const lock = await store.lockPaths([top.drv.outputs['out']!.path]);
    expect(store.lockedPaths()).toEqual([top.drv.outputs['out']!.path]);
    expect([...liveSet(store)].sort()).toEqual([top.drvPath, dep.drvPath, depOut, script].sort());
    expect(collectGarbage(store).deleted).toEqual([]);
    lock.release();
    expect(collectGarbage(store).deleted.sort()).toEqual([top.drvPath, dep.drvPath, depOut, script].sort());
  });

  it('keeps the derivation that built a live output, with its closure, but not its inputs\' outputs (keep-derivations, as Nix and Guix)', async () => {
    const { script, dep, top } = twoDerivations();
    const output = async (d: typeof dep, dir: string) => {
      mkdirSync(join(work, dir));
      writeFileSync(join(work, dir, 'file'), `${dir}\n`);
      const path = d.drv.outputs['out']!.path;
      await store.registerPath(path, join(work, dir), { deriver: d.drvPath });
      return path;
    };
    const depOut = await output(dep, 'dep-built');
    const topOut = await output(top, 'top-built');
    const rootName = store.addRoot(topOut);
    expect([...liveSet(store)].sort()).toEqual([topOut, top.drvPath, dep.drvPath, script].sort());
    expect(collectGarbage(store).deleted).toEqual([depOut]);
    expect(store.isValid(top.drvPath)).toBe(true);
    store.removeRoot(rootName);
    expect(collectGarbage(store).deleted.sort()).toEqual([topOut, top.drvPath, dep.drvPath, script].sort());
  });

  it('removes cached build roots whose items are gone, and half-made ones of dead processes', async () => {
    const g = await graph();
    store.addRoot(g.c);
    const roots = join(root, 'var/roots');
    const make = (key: string, items: string[]) => {
      mkdirSync(join(roots, key, 'usr/bin'), { recursive: true });
      writeFileSync(join(roots, key, 'usr/bin/tool'), 'x'.repeat(1000));
      writeFileSync(join(roots, key, '.complete'), items.map((p) => `${p}\n`).join(''));
    };
    make('live', [g.a, g.c]);
    make('dead', [g.a, g.e]);
    // Half-made ones: an older name, and a dead process's of here; one of another PID
    // namespace (a container sharing the store) is not judged, so kept.
    const here = ownerWhere();
    const elsewhere = here.replace(/^ns\d+/, 'ns1');
    mkdirSync(join(roots, '.tmp-0123abcd-999999999-1'));
    mkdirSync(join(roots, `.tmp-0123abcd-999999999-${here}-1`));
    mkdirSync(join(roots, `.tmp-0123abcd-999999999-${elsewhere}-1`));
    const stale = ['.tmp-0123abcd-999999999-1', `.tmp-0123abcd-999999999-${here}-1`, 'dead'].sort();
    const dry = collectGarbage(store, { dryRun: true });
    expect(dry.caches.map((c) => basename(c)).sort()).toEqual(stale);
    const r = collectGarbage(store);
    expect(r.caches.map((c) => basename(c)).sort()).toEqual(stale);
    expect(readdirSync(roots).sort()).toEqual([`.tmp-0123abcd-999999999-${elsewhere}-1`, 'live'].sort());
  });

  it('deletes old unregistered leftovers, and never a valid item', async () => {
    const g = await graph();
    store.addRoot(g.t);
    const leftover = `${SD}/${'1'.repeat(32)}-half-written`;
    mkdirSync(store.physicalPath(leftover));
    writeFileSync(join(store.physicalPath(leftover), 'x'), 'x');
    expect(store.leftovers()).toEqual([]); // too young to be sure its writer is gone
    expect(store.leftovers(0)).toEqual([leftover]);
    const r = store.deleteLeftovers(0);
    expect(r.deleted).toEqual([leftover]);
    expect(existsSync(store.physicalPath(leftover))).toBe(false);
    expect(store.isValid(g.t) && existsSync(store.physicalPath(g.t))).toBe(true);
  });
});

describe('deletePaths and invalidatePaths', () => {
  it('invalidatePaths refuses while a remaining valid path refers to one', async () => {
    const g = await graph();
    expect(() => store.invalidatePaths([g.a])).toThrow(/cannot invalidate .*-a: the valid path .*-[bd] still refers to it/);
    expect(store.isValid(g.a)).toBe(true);
    expect(() => store.invalidatePaths([g.a, g.b, g.c])).toThrow(/-d still refers/);
    expect(store.isValid(g.b) && store.isValid(g.c)).toBe(true);
    // With all its referrers, in any order, in one transaction; the files stay.
    store.invalidatePaths([g.a, g.d, g.c, g.b]);
    for (const p of [g.a, g.b, g.c, g.d]) expect(store.isValid(p)).toBe(false);
    expect(existsSync(store.physicalPath(g.a))).toBe(true);
    expectConsistent(store);
  });

  it('deletePaths skips paths still referred to, kept, or locked', async () => {
    const g = await graph();
    const lock = await store.lockPaths([g.t]);
    const r = store.deletePaths([g.a, g.b, g.c, g.f, g.e, g.t], { keep: () => new Set([g.f]) });
    // a is referred to by d (not deleted); e by f (kept); t is locked.
    expect(r.deleted).toEqual([g.b, g.c]);
    lock.release();
    expectConsistent(store);
    expect(existsSync(store.physicalPath(g.c))).toBe(false);
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
  });

  it('puts back the items of a collector that died before committing, and drops committed ones', async () => {
    const g = await graph();
    chmodSync(store.physicalPath(g.c), 0o755);
    // As a collector killed between moving items aside and committing would leave them:
    renameSync(store.physicalPath(g.c), join(root, 'store/.tmp', `999999999-1-1~${basename(g.c)}`));
    // …and as one killed after committing, while deleting the files:
    const gone = `${SD}/${'2'.repeat(32)}-gone`;
    mkdirSync(join(root, 'store/.tmp', `999999999-1-2~${basename(gone)}`));
    store.close();
    store = other();
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
    expect(existsSync(join(store.physicalPath(g.c), 'bin/c'))).toBe(true);
    expectConsistent(store);
    expect((await verifyStore(store, { checkContents: true })).problems).toEqual([]);
  });
});

describe('referrersFirst', () => {
  it('orders a diamond and tolerates self-references and outside edges', () => {
    const edges: Array<[string, string]> = [
      ['top', 'left'],
      ['top', 'right'],
      ['left', 'base'],
      ['right', 'base'],
      ['base', 'base'],
      ['outside', 'base'],
    ];
    expect(referrersFirst(['base', 'right', 'left', 'top'], edges)).toEqual(['top', 'left', 'right', 'base']);
  });
});

describe('verifyStore', () => {
  it('finds a deleted file and a corrupted file', async () => {
    const g = await graph();
    expect(await verifyStore(store, { checkContents: true })).toEqual({ checked: 8, problems: [] });
    unlinkSync(store.physicalPath(g.t));
    const file = join(store.physicalPath(g.f), 'bin/f');
    chmodSync(file, 0o644);
    writeFileSync(file, 'tampered\n');
    const quick = await verifyStore(store);
    expect(quick.problems).toEqual([{ kind: 'missing', path: g.t, message: expect.stringMatching(/^missing: .*-t is valid but .* does not exist$/) }]);
    const full = await verifyStore(store, { checkContents: true });
    expect(full.problems.map((p) => [p.kind, p.path])).toEqual(
      [
        ['missing', g.t],
        ['hash-mismatch', g.f],
      ].sort((x, y) => x[1]!.localeCompare(y[1]!)),
    );
    expect(full.problems.find((p) => p.kind === 'hash-mismatch')!.message).toMatch(/has NAR hash sha256:\w+ .* but the database records sha256:\w+/);
  });

  it('reports a root whose target is not valid', async () => {
    const g = await graph();
    store.addRoot(g.t, 'keep-t');
    // Only possible by hand: invalidatePaths is low-level, and GC never deletes a rooted path.
    store.invalidatePaths([g.t]);
    const { problems } = await verifyStore(store);
    expect(problems).toEqual([{ kind: 'dangling-root', path: g.t, message: expect.stringContaining('keep-t points at') }]);
  });
});

// ---------------------------------------------------------------------------------------
// Several processes: the store modules compiled to plain JavaScript for child processes.

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
let compiled: string;

const CHILD = `
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [dir, root, op, arg] = process.argv.slice(2);
const { openStore } = await import(join(dir, 'src/store/store.js'));
const { collectGarbage } = await import(join(dir, 'src/store/gc.js'));
const open = () => openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: op === 'collect-once' });
if (op === 'write') {
  // Short-lived writers, like CLI runs: add a chain of items, root some, close.
  const work = mkdtempSync(join(tmpdir(), 'tsdsl-gc-writer-'));
  const end = Date.now() + Number(arg);
  for (let i = 0; Date.now() < end; i++) {
    const s = open();
    try {
      const base = s.addTextToStore('base', 'shared', []);
      const mid = s.addTextToStore('mid' + (i % 5), 'mid ' + (i % 5) + base, [base]);
      const d = join(work, 'd' + i);
      mkdirSync(join(d, 'sub'), { recursive: true });
      writeFileSync(join(d, 'sub/f'), 'tree ' + (i % 7) + mid);
      const t = await s.addToStoreFromPath('tree' + (i % 7), d, { references: [mid] });
      if (i % 3 === 0) s.addRoot(t, 'r' + (i % 4));
    } finally {
      s.close();
    }
  }
} else if (op === 'collect') {
  const s = open();
  const end = Date.now() + Number(arg);
  let n = 0;
  while (Date.now() < end) {
    n += collectGarbage(s).deleted.length;
    await new Promise((r) => setTimeout(r, 2));
  }
  console.log('deleted ' + n);
  s.close();
} else if (op === 'populate') {
  const s = open();
  const work = mkdtempSync(join(tmpdir(), 'tsdsl-gc-writer-'));
  let prev = [];
  for (let i = 0; i < Number(arg); i++) {
    const t = s.addTextToStore('t' + i, 'text ' + i + prev.join(' '), prev);
    const d = join(work, 'd' + i);
    mkdirSync(join(d, 'sub'), { recursive: true });
    writeFileSync(join(d, 'sub/f'), 'tree ' + i + t);
    const tree = await s.addToStoreFromPath('tree' + i, d, { references: [t] });
    prev = i % 10 === 9 ? [] : [tree];
    if (i % 50 === 0) s.addRoot(tree, 'root' + i);
  }
  s.close();
} else if (op === 'add-and-die') {
  // A writer killed with -9 while it holds temporary roots (as build -d roots what it relies on).
  const s = open();
  s.addTextToStore('dying', 'added by a process killed with -9', []);
  process.kill(process.pid, 'SIGKILL');
} else if (op === 'collect-once') {
  const s = open();
  console.log('started');
  console.log('deleted ' + collectGarbage(s).deleted.length);
  s.close();
}
`;

function child(op: string, arg: string): { proc: ReturnType<typeof spawn>; output: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const proc = spawn(process.execPath, [join(compiled, 'child.mjs'), compiled, root, op, arg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { proc, output: new Promise((res) => proc.on('close', (code) => res({ code, stdout, stderr }))) };
}

describe('several processes', () => {
  beforeAll(() => {
    compiled = compileStoreModules(projectRoot, '.cache-tsdsl-gc-test-');
    writeFileSync(join(compiled, 'child.mjs'), CHILD);
  });

  afterAll(() => {
    rmSync(compiled, { recursive: true, force: true });
    spawnSync('sh', ['-c', `chmod -R u+w ${tmpdir()}/tsdsl-gc-writer-* 2>/dev/null; rm -rf ${tmpdir()}/tsdsl-gc-writer-*`]);
  });

  it('a collector running alongside writers never breaks the store nor fails a writer', async () => {
    store.close();
    const jobs = [child('write', '3000'), child('write', '3000'), child('collect', '3000')];
    const results = await Promise.all(jobs.map((j) => j.output));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(Number(/deleted (\d+)/.exec(results[2]!.stdout)![1])).toBeGreaterThan(0);
    store = other();
    expect((await verifyStore(store, { checkContents: true })).problems).toEqual([]);
    expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
    for (const r of store.listRoots()) expect(store.isValid(r.path)).toBe(true);
  }, 60_000);

  it('the temporary roots of a process killed with -9 are forgotten at the next open, not only by gc', async () => {
    store.close();
    await child('add-and-die', '').output;
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { prepare(sql: string): { get(): { n: number } }; close(): void };
    const rows = (): number => {
      const db = new Sqlite(join(root, 'var', 'db.sqlite'));
      try {
        return db.prepare('SELECT count(*) AS n FROM TempRoots').get().n;
      } finally {
        db.close();
      }
    };
    expect(rows()).toBeGreaterThan(0);
    store = other();
    expect(rows()).toBe(0);
  });

  it('kill -9 of the collector at any moment leaves a sound store', async () => {
    store.close();
    const populated = await child('populate', '600').output;
    expect(populated.code, populated.stderr).toBe(0);
    store = other();
    const total = store.allValidPaths().length;
    const live = liveSet(store).size;
    store.close();
    const seen: number[] = [];
    for (const delay of [30, 80, 150, 250, 400]) {
      const k = child('collect-once', '');
      await new Promise<void>((res) => k.proc.stdout!.once('data', () => res()));
      await new Promise((res) => setTimeout(res, delay));
      k.proc.kill('SIGKILL');
      await k.output;
      // Reopening puts back what was moved aside before a commit, and drops the rest.
      store = other();
      expect((await verifyStore(store, { checkContents: true })).problems).toEqual([]);
      expect(readdirSync(join(root, 'store/.tmp'))).toEqual([]);
      seen.push(store.allValidPaths().length);
      store.close();
    }
    // Some kills landed in the middle of a collection (else the test proves little).
    expect(seen.some((n) => n > live && n < total)).toBe(true);
    store = other();
    collectGarbage(store);
    expect(store.allValidPaths().length).toBe(live);
    expect(live).toBeLessThan(total);
    expect((await verifyStore(store, { checkContents: true })).problems).toEqual([]);
  }, 120_000);
});

describe('repairStore from code', () => {
  it('forgets what verifyStore found missing, with its referrers, and refuses anything but its problems', async () => {
    const a = store.addTextToStore('a', 'A', []);
    const b = store.addTextToStore('b', `B ${a}`, [a]);
    const c = store.addTextToStore('c', 'C', []);
    spawnSync('chmod', ['u+w', join(root, 'store')]);
    rmSync(store.physicalPath(a));
    expect(() => repairStore(store, 'x' as never)).toThrow(/^repairStore\(\) takes the problems verifyStore\(\) found .*, not "x"$/);
    expect(() => repairStore(store, [null] as never)).toThrow(/^repairStore\(\) takes the problems verifyStore\(\) found/);
    // A cached build root listing the damaged item (hard links to its files) goes with it; one that does not, stays.
    const roots = join(root, 'var', 'roots');
    mkdirSync(join(roots, 'k1'), { recursive: true });
    writeFileSync(join(roots, 'k1', '.complete'), `${a}\n`);
    mkdirSync(join(roots, 'k2'));
    writeFileSync(join(roots, 'k2', '.complete'), `${c}\n`);
    repairStore(store, (await verifyStore(store)).problems);
    expect(store.allValidPaths()).toEqual([c]);
    expect(store.isValid(b)).toBe(false);
    expect(readdirSync(roots)).toEqual(['k2']);
    // A problem whose item a collector deleted meanwhile is no longer one: nothing to forget, no error.
    expect(repairStore(store, [{ kind: 'missing', path: a, message: 'missing' }])).toEqual({ forgotten: [], busy: [] });
  });
});

describe('closureSizes', () => {
  it("asks the database for the closure once, not once per item, and gives each item's closure size", () => {
    // 600 items, each referring to a few before it: a query of its requisites per item was
    // items × closure (25 s for a closure of 3,000 items).
    const paths: string[] = [];
    for (let i = 0; i < 600; i++) {
      const refs = [...new Set([i - 1, i - 7, i - 30].filter((j) => j >= 0).map((j) => paths[j]!))];
      paths.push(store.addTextToStore(`item-${i}`, `item ${i}\n${refs.join('\n')}\n`, refs));
    }
    const asked = { n: 0 };
    const requisites = store.queryRequisites.bind(store);
    store.queryRequisites = (ps) => (asked.n++, requisites(ps));
    const sizes = closureSizes(store, [paths[599]!, paths[100]!]);
    expect(asked.n).toBe(1);
    store.queryRequisites = requisites;
    expect(sizes.items).toHaveLength(600);
    const size = (p: string) => store.queryPathInfo(p)!.narSize;
    for (const item of sizes.items.filter((_, k) => k % 37 === 0)) {
      expect(item.total).toBe(requisites([item.path]).reduce((n, p) => n + size(p), 0));
      expect(item.self).toBe(size(item.path));
    }
    expect(sizes.items[0]!.path).toBe(paths[599]);
    expect(sizes.total).toBe(paths.reduce((n, p) => n + size(p), 0));
  });

  it('closureTotals() counts each item of a closure once, self-references and cycles included', () => {
    const self = [1, 10, 100, 1000, 10000];
    // a → b, c; b → d; c → d, c (itself); d → e; e → d (a cycle no build makes, but a database could hold)
    const refs = [['b', 'c'], ['d'], ['d', 'c'], ['e'], ['d']];
    expect(closureTotals(refs, ['a', 'b', 'c', 'd', 'e'], self)).toEqual([11111, 11010, 11100, 11000, 11000]);
    expect(closureTotals([[], ['a'], ['a', 'b']], ['a', 'b', 'c'], [1, 2, 4])).toEqual([1, 3, 7]);
  });
});
