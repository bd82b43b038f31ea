/**
 * Checking a directory of package files before committing them, through the API: lint the
 * packages it defines and report the files `tsdsl style` would change. Run it with
 *
 *   node scripts/run-ts.mjs examples/check-packages.ts [DIR]
 *
 * (DIR defaults to examples/my-packages). It prints `file:line:col: checker: package: message`
 * for every finding and `would restyle FILE` for every file not in the canonical form, and
 * exits 1 when there is either (2 when the directory cannot be loaded); nothing is written.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lint, loadCollection, style } from 'tsdsl';

// The example's own package files, wherever it is run from.
const MY_PACKAGES = fileURLToPath(new URL('./my-packages', import.meta.url));

export async function main(dir = MY_PACKAGES): Promise<number> {
  const root = resolve(dir);
  // Only the directory's own packages: the default collection is loaded too, for their inputs.
  const own = await loadCollection({ loadPath: root, useEnv: false, noDefault: true });
  const collection = await loadCollection({ loadPath: root, useEnv: false });
  const findings = await lint({ packages: own.all(), collection });
  for (const f of findings) console.log(`${f.file}:${f.line}:${f.column}: ${f.checker}: ${f.package}: ${f.message}`);
  let unstyled = 0;
  for (const name of readdirSync(root).filter((n) => n.endsWith('.ts')).sort()) {
    if ((await style(join(root, name))).changed) {
      console.log(`would restyle ${join(root, name)}`);
      unstyled++;
    }
  }
  console.log(`${own.all().length} packages: ${findings.length} findings, ${unstyled} files to restyle`);
  return findings.length || unstyled ? 1 : 0;
}

// Run when executed as a script (not when a test imports it).
// A directory that cannot be loaded (missing, a syntax error in a file) is said in one line, as
// tsdsl says it, and exits 2.
if (process.argv[1]?.endsWith('check-packages.ts')) {
  process.exitCode = await main(process.argv[2]).catch((e: unknown) => {
    console.error(`check-packages: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  });
}
