/** The declaration files a user's compiler reads: what they import must be there in her project. */
import { existsSync, readFileSync } from 'node:fs';
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
