/**
 * The store's modules compiled for child processes (the multi-process tests run real writers,
 * collectors and killed processes): written inside node_modules, so that the children resolve
 * better-sqlite3 from the project. The modules the children import are listed; what they import
 * (relative imports, followed) is compiled with them, so a new module of theirs needs no entry.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { transform } from 'sucrase';

// What the children import (store.test.ts's and gc.test.ts's); the rest is found from them.
const STORE_MODULES = ['src/store/store.ts', 'src/store/gc.ts', 'src/derivation/aterm.ts'];

/** Compiles the store's modules into a new directory under node_modules; returns it. */
export function compileStoreModules(projectRoot: string, prefix: string): string {
  const compiled = mkdtempSync(join(projectRoot, 'node_modules', prefix));
  const todo = [...STORE_MODULES];
  const done = new Set<string>();
  for (let rel = todo.pop(); rel !== undefined; rel = todo.pop()) {
    if (done.has(rel)) continue;
    done.add(rel);
    const source = readFileSync(join(projectRoot, rel), 'utf8');
    // Static imports and re-exports of this project's modules (`./x.js` is `./x.ts` here).
    for (const m of source.matchAll(/^(?:import|export)\s(?!type\s)[^;]*?from\s+'(\.{1,2}\/[^']+)\.js';/gm)) {
      todo.push(join(dirname(rel), `${m[1]!}.ts`));
    }
    const code = transform(source, { transforms: ['typescript'], disableESTransforms: true }).code;
    const dest = join(compiled, rel.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, code);
  }
  return compiled;
}
