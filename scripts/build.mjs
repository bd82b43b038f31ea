#!/usr/bin/env node
// Build: transpile src/ and packages/ to dist/ with sucrase. Sucrase strips types line for
// line, so dist/packages/maths.js line N is packages/maths.ts line N: package locations
// captured from stack traces at run time map back to the TypeScript source with no source map.
// Type checking is `tsc --noEmit` (npm run typecheck, part of npm test).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, statSync, rmSync, renameSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'sucrase';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** Rewrite relative `.ts` import specifiers to `.js` so the output runs on plain Node. */
function fixSpecifiers(code) {
  return code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+?)\.ts\2/g, '$1$2$3.js$2');
}

// Files are replaced one by one (temporary name, then rename), never by emptying dist/ first,
// so a CLI run or a test reading dist/ while it is rebuilt sees the old file or the new one.
const produced = new Set();
const writeAtomic = (dest, data) => {
  const tmp = `${dest}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, dest);
  produced.add(dest);
};
let count = 0;
for (const top of ['src', 'packages']) {
  for (const file of walk(join(root, top))) {
    const rel = relative(root, file);
    const dest = join(out, rel);
    mkdirSync(dirname(dest), { recursive: true });
    if (file.endsWith('.ts') && !file.endsWith('.d.ts')) {
      const source = readFileSync(file, 'utf8');
      let code;
      try {
        code = transform(source, { transforms: ['typescript'], filePath: file, disableESTransforms: true, keepUnusedImports: false }).code;
      } catch (e) {
        console.error(`build: ${rel}: ${e.message}`);
        process.exit(1);
      }
      writeAtomic(dest.replace(/\.ts$/, '.js'), fixSpecifiers(code));
      count++;
    } else if (statSync(file).isFile()) {
      writeAtomic(dest, readFileSync(file));
    }
  }
}
// Remove what no source produces any more (a deleted or renamed module).
for (const top of ['src', 'packages']) {
  let files = [];
  try {
    files = [...walk(join(out, top))];
  } catch {
    continue;
  }
  for (const f of files) if (!produced.has(f) && !/\.tmp-\d+$/.test(f)) rmSync(f, { force: true });
}
// Declaration files for the package's users (package.json `exports` points their compiler at
// dist/types): without them, a user's compiler checked tsdsl's sources under the user's own
// settings (and needed tsdsl's dev-only @types). Made by tsc where it is installed (a
// development checkout, or npm's prepare of a git dependency); a packed tarball ships them.
const tsc = join(root, 'node_modules', '.bin', 'tsc');
let types = '';
if (existsSync(tsc)) {
  // Written beside, then swapped in: two builds at once (test files rebuilding a stale dist/)
  // each write their own directory.
  const fresh = join(out, `.types-${process.pid}`);
  const old = join(out, `.types-old-${process.pid}`);
  const r = spawnSync(tsc, ['-p', join(root, 'tsconfig.types.json'), '--outDir', fresh], { cwd: root, encoding: 'utf8' });
  // Type errors are the type check's to report (npm run typecheck); the declarations are written anyway.
  if (r.error || !existsSync(join(fresh, 'src', 'index.d.ts'))) {
    rmSync(fresh, { recursive: true, force: true });
    console.error(`build: writing the declaration files failed: ${r.error?.message ?? r.stdout + r.stderr}`);
    process.exit(1);
  }
  try {
    renameSync(join(out, 'types'), old);
  } catch {
    // none yet, or another build swapped it away
  }
  renameSync(fresh, join(out, 'types'));
  rmSync(old, { recursive: true, force: true });
  types = ' and declarations → dist/types/';
}
if (!process.env.TSDSL_BUILD_QUIET) console.error(`build: ${count} modules → dist/${types}`);
