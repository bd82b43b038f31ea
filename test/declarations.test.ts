/** The declaration files a user's compiler reads: what they import must be there in her project. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli/helpers.js';

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  exports: Record<string, { types?: string }>;
};

/** Whether an installed dependency ships its own declarations (a devDependency's @types do not come along). */
function shipsTypes(name: string): boolean {
  const dir = join(ROOT, 'node_modules', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { types?: string; typings?: string };
  return pkg.types !== undefined || pkg.typings !== undefined || existsSync(join(dir, 'index.d.ts'));
}

describe('the declaration files of the exports', () => {
  it('import only node:, tsdsl itself and dependencies that ship their own types', () => {
    const seen = new Set<string>();
    const bare = new Map<string, string>();
    const queue = Object.values(manifest.exports).flatMap((e) => (e.types ? [resolve(ROOT, e.types)] : []));
    expect(queue.length).toBeGreaterThan(0);
    while (queue.length) {
      const file = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      // Import and export declarations and import() types, not the examples of doc comments.
      const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'([^']+)'/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
        else bare.set(spec, file);
      }
    }
    const wrong = [...bare].filter(([spec]) => {
      if (spec.startsWith('node:') || spec === 'tsdsl' || spec.startsWith('tsdsl/')) return false;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      return !(name in manifest.dependencies) || !shipsTypes(name);
    });
    expect(wrong.map(([spec, file]) => `${spec} (${relative(ROOT, file)})`)).toEqual([]);
  });
});

describe('a user project compiling against the declaration files', () => {
  it('needs no `types: ["node"]` and no skipLibCheck: the declarations bring Node\'s types themselves', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-consumer-'));
    try {
      mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
      symlinkSync(ROOT, join(dir, 'node_modules', 'tsdsl'));
      symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'));
      writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
      // TypeScript 6 and later include no @types package unless `types` lists it.
      const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }));
      writeFileSync(
        join(dir, 'user.ts'),
        "import { lowerPackages, openStore, transform } from 'tsdsl';\nimport { hwloc } from 'tsdsl/packages';\n" +
          "const { results } = await lowerPackages([transform(hwloc, { withoutTests: ['hwloc'] })]);\nexport const drv: string = results[0]!.drvPath;\nexport const open = openStore;\n",
      );
      writeFileSync(join(dir, 'only-packages.ts'), "import { hwloc } from 'tsdsl/packages';\nexport const name: string = hwloc.name;\n");
      const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir], { encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
