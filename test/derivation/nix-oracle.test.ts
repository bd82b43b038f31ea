/**
 * Cross-checks our store paths against Nix 2.8 (`nix-instantiate` from Debian's nix-bin).
 *
 * Each case is built twice: with our functions, and as a Nix `derivation { … }` /
 * `builtins.toFile` / `builtins.path` expression evaluated by nix-instantiate without a
 * daemon (a dummy store computes paths for any store dir; a local store under a temporary
 * root also writes the .drv files, whose bytes we compare). Skipped, with the reason, when
 * nix-instantiate is not installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DerivationHasher, finalizeDerivation } from '../../src/derivation/aterm.js';
import type { Derivation, FinalizedDerivation } from '../../src/derivation/aterm.js';
import { makeSourcePath, makeTextPath, parseHash, sha256 } from '../../src/derivation/hash.js';
import type { HashAlgo } from '../../src/derivation/hash.js';
import { narHash } from '../../src/store/nar.js';

const probe = spawnSync('nix-instantiate', ['--version'], { encoding: 'utf8' });
const haveNix = probe.status === 0;
const skipReason = haveNix ? '' : 'nix-instantiate is not on PATH (install Debian package nix-bin to run the Nix 2.8 oracle)';
if (!haveNix) console.warn(`nix-oracle: skipped: ${skipReason}`);

// ---------------------------------------------------------------------------------------
// A tiny model of the cases, printable both ways.

type Part = string | { ref: string; output?: string };
type Value = string | Part[];

interface DrvCase {
  kind: 'drv';
  key: string;
  name: string;
  builder?: Value;
  args?: Value[];
  attrs?: Record<string, Value>;
  outputs?: string[];
  fixed?: { mode: 'flat' | 'recursive'; algo: HashAlgo; hash: string };
}
interface TextCase {
  kind: 'text';
  key: string;
  name: string;
  contents: Value;
}
interface SourceCase {
  kind: 'source';
  key: string;
  name: string;
  dir: string;
}
type Case = DrvCase | TextCase | SourceCase;

const parts = (v: Value): Part[] => (typeof v === 'string' ? [v] : v);

// --- our side

interface Ours {
  drvs: Map<string, FinalizedDerivation>;
  paths: Map<string, string>;
}

async function buildOurs(cases: readonly Case[], storeDir: string): Promise<Ours> {
  const hasher = new DerivationHasher(storeDir);
  const drvs = new Map<string, FinalizedDerivation>();
  const paths = new Map<string, string>();
  for (const c of cases) {
    const inputDrvs = new Map<string, Set<string>>();
    const inputSrcs = new Set<string>();
    const expand = (v: Value): string =>
      parts(v)
        .map((p) => {
          if (typeof p === 'string') return p;
          const d = drvs.get(p.ref);
          if (d) {
            const o = p.output ?? 'out';
            if (!inputDrvs.has(d.drvPath)) inputDrvs.set(d.drvPath, new Set());
            inputDrvs.get(d.drvPath)!.add(o);
            return d.drv.outputs[o]!.path;
          }
          const path = paths.get(p.ref)!;
          inputSrcs.add(path);
          return path;
        })
        .join('');
    if (c.kind === 'text') {
      const contents = expand(c.contents);
      paths.set(c.key, makeTextPath(c.name, contents, [...inputSrcs], storeDir));
    } else if (c.kind === 'source') {
      paths.set(c.key, makeSourcePath(c.name, (await narHash(c.dir)).hash, [], storeDir));
    } else {
      const builder = expand(c.builder ?? '/bin/sh');
      const args = (c.args ?? []).map(expand);
      // What Nix's `derivation` primitive puts in the environment.
      const env: Record<string, string> = { name: c.name, system: 'x86_64-linux', builder };
      for (const [k, v] of Object.entries(c.attrs ?? {})) env[k] = expand(v);
      if (c.outputs) env['outputs'] = c.outputs.join(' ');
      const outputs: Derivation['outputs'] = {};
      for (const o of c.outputs ?? ['out']) outputs[o] = { path: '', hashAlgo: '', hash: '' };
      if (c.fixed) {
        env['outputHash'] = c.fixed.hash;
        env['outputHashAlgo'] = c.fixed.algo;
        env['outputHashMode'] = c.fixed.mode;
        outputs['out'] = {
          path: '',
          hashAlgo: (c.fixed.mode === 'recursive' ? 'r:' : '') + c.fixed.algo,
          hash: parseHash(c.fixed.hash, c.fixed.algo).digest.toString('hex'),
        };
      }
      const partial: Derivation = {
        outputs,
        inputDrvs: Object.fromEntries([...inputDrvs].map(([k, v]) => [k, [...v]])),
        inputSrcs: [...inputSrcs],
        system: 'x86_64-linux',
        builder,
        args,
        env,
      };
      drvs.set(c.key, finalizeDerivation(partial, c.name, hasher));
    }
  }
  return { drvs, paths };
}

// --- Nix's side

function nixString(v: Value): string {
  return (
    '"' +
    parts(v)
      .map((p) =>
        typeof p === 'string'
          ? p.replace(/[\\"\n\r\t]|\$\{/g, (m) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t', '${': '\\${' })[m]!)
          : `\${${p.ref}${p.output ? '.' + p.output : ''}}`,
      )
      .join('') +
    '"'
  );
}

function nixExpression(cases: readonly Case[]): string {
  const lines = ['let'];
  for (const c of cases) {
    if (c.kind === 'text') {
      lines.push(`  ${c.key} = builtins.toFile ${nixString(c.name)} ${nixString(c.contents)};`);
    } else if (c.kind === 'source') {
      lines.push(`  ${c.key} = builtins.path { path = ${c.dir}; name = ${nixString(c.name)}; };`);
    } else {
      const attrs: string[] = [`name = ${nixString(c.name)};`, `system = "x86_64-linux";`, `builder = ${nixString(c.builder ?? '/bin/sh')};`];
      if (c.args) attrs.push(`args = [ ${c.args.map(nixString).join(' ')} ];`);
      if (c.outputs) attrs.push(`outputs = [ ${c.outputs.map((o) => nixString(o)).join(' ')} ];`);
      if (c.fixed) {
        attrs.push(`outputHash = ${nixString(c.fixed.hash)};`, `outputHashAlgo = ${nixString(c.fixed.algo)};`, `outputHashMode = ${nixString(c.fixed.mode)};`);
      }
      for (const [k, v] of Object.entries(c.attrs ?? {})) attrs.push(`${nixString(k)} = ${nixString(v)};`);
      lines.push(`  ${c.key} = derivation { ${attrs.join(' ')} };`);
    }
  }
  lines.push('in {');
  for (const c of cases) {
    if (c.kind === 'drv') {
      const outs = (c.outputs ?? ['out']).map((o) => `${nixString(o)} = ${c.key}.${o}.outPath;`).join(' ');
      lines.push(`  ${c.key} = { drvPath = ${c.key}.drvPath; outputs = { ${outs} }; };`);
    } else {
      lines.push(`  ${c.key} = "\${${c.key}}";`);
    }
  }
  lines.push('}');
  return lines.join('\n');
}

let scratch: string;

function nixEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NIX_REMOTE: '', NIX_CONF_DIR: join(scratch, 'conf'), HOME: join(scratch, 'home'), XDG_CACHE_HOME: join(scratch, 'cache') };
  delete env['NIX_PATH'];
  return env;
}

type NixResult = Record<string, string | { drvPath: string; outputs: Record<string, string> }>;

function evalNix(expr: string, store: string, writable: boolean): NixResult {
  const file = join(scratch, `expr-${Math.random().toString(36).slice(2)}.nix`);
  writeFileSync(file, expr);
  const r = spawnSync('nix-instantiate', ['--eval', '--strict', '--json', writable ? '--read-write-mode' : '--readonly-mode', '--store', store, file], {
    encoding: 'utf8',
    env: nixEnv(),
  });
  if (r.status !== 0) throw new Error(`nix-instantiate failed: ${r.stderr}\n${expr}`);
  return JSON.parse(r.stdout) as NixResult;
}

function compare(cases: readonly Case[], ours: Ours, theirs: NixResult): void {
  for (const c of cases) {
    const t = theirs[c.key]!;
    if (c.kind === 'drv') {
      const f = ours.drvs.get(c.key)!;
      expect(typeof t === 'object' && t.drvPath, `${c.key} .drv path`).toBe(f.drvPath);
      const outs: Record<string, string> = {};
      for (const o of Object.keys(f.drv.outputs)) outs[o] = f.drv.outputs[o]!.path;
      expect(typeof t === 'object' && t.outputs, `${c.key} outputs`).toEqual(outs);
    } else {
      expect(t, `${c.key} path`).toBe(ours.paths.get(c.key));
    }
  }
}

// ---------------------------------------------------------------------------------------

function cases(srcDir: string): Case[] {
  const tarball = sha256('pretend tarball');
  const nasty = 'quote " backslash \\ newline \n tab \t cr \r dollar $x ${y} unicode ü 😀 ctrl \x01 end';
  return [
    { kind: 'text', key: 't1', name: 't1.sh', contents: 'echo one\n' },
    { kind: 'text', key: 't2', name: 't2.sh', contents: ['source ', { ref: 't1' }, '\necho "two"\n'] },
    { kind: 'source', key: 'src', name: 'mysrc', dir: srcDir },
    { kind: 'drv', key: 'fodFlat', name: 'pkg-1.0.tar.gz', args: ['-c', 'fetch'], attrs: { urls: 'https://example.org/a https://example.org/b' }, fixed: { mode: 'flat', algo: 'sha256', hash: tarball.toString('hex') } },
    { kind: 'drv', key: 'fodRec', name: 'checkout', fixed: { mode: 'recursive', algo: 'sha256', hash: 'sha256-iUUXyRY8iW7DGirb0zwGgf1fRbLA7wimTJKgP7l/OQ8=' } },
    { kind: 'drv', key: 'fodSha1', name: 'old.tar', fixed: { mode: 'flat', algo: 'sha1', hash: 'vw46m23bizj4n8afrc0fj19wrp7mj3c0' } },
    { kind: 'drv', key: 'fodRecSha512', name: 'tree', fixed: { mode: 'recursive', algo: 'sha512', hash: createSha512Hex() } },
    {
      kind: 'drv',
      key: 'multi',
      name: 'multi-2.0',
      outputs: ['out', 'dev', 'doc'],
      args: ['-e', ['', { ref: 't2' }]],
      attrs: { src: [{ ref: 'fodFlat' }], extra: [{ ref: 'fodRec' }, ' ', { ref: 'fodSha1' }, ' ', { ref: 'fodRecSha512' }] },
    },
    {
      kind: 'drv',
      key: 'esc',
      name: 'esc',
      builder: [{ ref: 't1' }],
      args: [nasty, '', '"', '\\', '\n'],
      attrs: {
        plain: 'x',
        nasty,
        'key with spaces': 'v',
        'k"ey': 'quoted key',
        'back\\slash': 'b',
        'ü': 'non-ascii key',
        '😀': 'astral key',
        '\ue000': 'private use key (sorts before astral in bytes)',
        Zkey: 'Z',
        _under: '_',
        deps: [{ ref: 'multi', output: 'dev' }, ':', { ref: 'multi' }, ':', { ref: 'src' }],
      },
    },
    { kind: 'drv', key: 'c1', name: 'chain-1', attrs: { dep: [{ ref: 'esc' }] } },
    { kind: 'drv', key: 'c2', name: 'chain-2', outputs: ['out', 'lib'], attrs: { dep: [{ ref: 'c1' }], doc: [{ ref: 'multi', output: 'doc' }] } },
    { kind: 'drv', key: 'c3', name: 'chain-3', attrs: { a: [{ ref: 'c2', output: 'lib' }], b: [{ ref: 'c2' }], c: [{ ref: 'fodFlat' }] } },
  ];
}

function createSha512Hex(): string {
  return Buffer.from(Array.from({ length: 64 }, (_, i) => (3 * i) & 0xff)).toString('hex');
}

describe.skipIf(!haveNix)(`Nix 2.8 oracle${haveNix ? '' : ` (skipped: ${skipReason})`}`, () => {
  let srcDir: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'tsdsl-nix-oracle-'));
    for (const d of ['conf', 'home', 'cache']) mkdirSync(join(scratch, d));
    // No substituters, no sandbox, no build users: evaluation only.
    writeFileSync(join(scratch, 'conf/nix.conf'), 'substituters =\nbuild-users-group =\nsandbox = false\n');
    srcDir = join(scratch, 'srcdir');
    mkdirSync(join(srcDir, 'sub'), { recursive: true });
    writeFileSync(join(srcDir, 'file'), 'contents\n');
    writeFileSync(join(srcDir, 'sub/tool'), '#!/bin/sh\n');
    chmodSync(join(srcDir, 'sub/tool'), 0o755);
    symlinkSync('../file', join(srcDir, 'sub/link'));
  });

  afterAll(() => {
    spawnSync('chmod', ['-R', 'u+w', scratch]);
    rmSync(scratch, { recursive: true, force: true });
  });

  for (const storeDir of ['/tsdsl/store', '/nix/store', '/gnu/store']) {
    it(`computes the same paths under ${storeDir}`, async () => {
      const cs = cases(srcDir);
      const ours = await buildOurs(cs, storeDir);
      const theirs = evalNix(nixExpression(cs), `dummy://?store=${storeDir}`, false);
      compare(cs, ours, theirs);
    }, 60_000);
  }

  it('writes byte-identical .drv files (Nix local store under a temporary root)', async () => {
    const cs = cases(srcDir);
    const ours = await buildOurs(cs, '/nix/store');
    const root = join(scratch, 'nixroot');
    const theirs = evalNix(nixExpression(cs), `local?root=${root}`, true);
    compare(cs, ours, theirs);
    for (const [key, f] of ours.drvs) {
      expect(readFileSync(join(root, f.drvPath), 'utf8'), `${key} .drv bytes`).toBe(f.text);
    }
    for (const c of cs) {
      if (c.kind === 'text') {
        const contents = readFileSync(join(root, ours.paths.get(c.key)!), 'utf8');
        expect(makeTextPath(c.name, contents, [...contents.matchAll(/\/nix\/store\/[0-9a-z]{32}-[^\s"]+/g)].map((m) => m[0]), '/nix/store')).toBe(ours.paths.get(c.key));
      }
    }
  }, 60_000);

  it('agrees on a larger random DAG', async () => {
    const cs: Case[] = [];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 150; i++) {
      const attrs: Record<string, Value> = { i: String(i) };
      const deps = i === 0 ? 0 : 1 + rand(Math.min(i, 4));
      for (let d = 0; d < deps; d++) {
        const j = rand(i);
        const target = cs[j] as DrvCase;
        const outs = target.outputs ?? ['out'];
        attrs[`dep${d}`] = [{ ref: target.key, output: outs[rand(outs.length)]! }];
      }
      const fixed = rand(10) === 0 ? { mode: 'recursive' as const, algo: 'sha256' as const, hash: sha256(String(i)).toString('hex') } : undefined;
      cs.push({
        kind: 'drv',
        key: `n${i}`,
        name: `node-${i}`,
        ...(fixed ? { fixed } : { attrs, ...(rand(3) === 0 ? { outputs: ['out', 'dev'] } : {}) }),
      });
    }
    const ours = await buildOurs(cs, '/tsdsl/store');
    compare(cs, ours, evalNix(nixExpression(cs), 'dummy://?store=/tsdsl/store', false));
  }, 60_000);
});

if (!haveNix) {
  describe('Nix 2.8 oracle', () => {
    it.skip(`skipped: ${skipReason}`, () => {});
  });
}
