import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tsdsl } from '../cli/helpers.js';

interface JsonGraph {
  nodes: Array<{ id: string; kind: string; root: boolean }>;
  edges: Array<{ source: string; target: string }>;
}

const graph = (args: string[], cwd?: string): JsonGraph => {
  const r = tsdsl(['graph', '--type=module', '--backend=json', ...args], cwd ? { cwd } : {});
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as JsonGraph;
};

describe('graph --type=module', () => {
  it('mumps: maths.ts imports the files defining the rest of its closure', () => {
    const g = graph(['mumps']);
    expect(g.nodes.filter((n) => n.root).map((n) => n.id)).toEqual(['packages/maths.ts']);
    expect(g.nodes.map((n) => n.id).sort()).toEqual(['packages/base.ts', 'packages/bootstrap.ts', 'packages/build-systems.ts', 'packages/maths.ts', 'packages/mpi.ts']);
    expect(g.nodes.every((n) => n.kind === 'module')).toBe(true);
    const from = (f: string) => g.edges.filter((e) => e.source === f).map((e) => e.target).sort();
    expect(from('packages/maths.ts')).toEqual(['packages/base.ts', 'packages/bootstrap.ts', 'packages/build-systems.ts', 'packages/mpi.ts']);
    expect(from('packages/mpi.ts')).toContain('packages/base.ts');
    // tsdsl's own modules are not package files.
    expect(g.nodes.some((n) => n.id.includes('src/'))).toBe(false);
  });

  it('zlib alone: base.ts and what it imports, not maths.ts', () => {
    const ids = graph(['zlib']).nodes.map((n) => n.id);
    expect(ids).toContain('packages/base.ts');
    expect(ids).not.toContain('packages/maths.ts');
  });

  it('follows -L files through `tsdsl/packages` and relative imports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-modgraph-'));
    mkdirSync(join(dir, 'mine'));
    writeFileSync(
      join(dir, 'mine', 'helper.ts'),
      `import { definePackage, licenses, trivial } from 'tsdsl';
export const helper = definePackage({ name: 'my-helper', version: '1.0', buildSystem: trivial, synopsis: 'Helper', description: 'Helper.', homePage: 'https://example.org/', license: licenses.expat });
`,
    );
    writeFileSync(
      join(dir, 'mine', 'app.ts'),
      `import { definePackage, licenses, trivial } from 'tsdsl';
import { hwloc } from 'tsdsl/packages';
import { helper } from './helper.js';
export const app = definePackage({ name: 'my-app', version: '1.0', buildSystem: trivial, inputs: [helper, hwloc], synopsis: 'App', description: 'App.', homePage: 'https://example.org/', license: licenses.expat });
`,
    );
    const g = graph(['-L', 'mine', 'my-app'], dir);
    const from = (f: string) => g.edges.filter((e) => e.source === f).map((e) => e.target);
    expect(g.nodes.filter((n) => n.root).map((n) => n.id)).toEqual(['mine/app.ts']);
    expect(from('mine/app.ts')).toContain('mine/helper.ts');
    const index = from('mine/app.ts').find((t) => t.endsWith('packages/index.ts'));
    expect(index).toBeDefined();
    expect(from(index!).some((t) => t.endsWith('packages/mpi.ts'))).toBe(true);
  });
});
