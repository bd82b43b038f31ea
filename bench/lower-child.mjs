// Child process of the lowering benchmark: lowers the synthetic collection (argv[2]) for the
// store dir argv[3]; with argv[4] = a store root, also writes every .drv into a fresh store.
// Prints JSON { ms, drvs } on stdout; the parent measures wall time and peak RSS.
import { pathToFileURL, fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const [file, storeDir, storeRoot] = process.argv.slice(2);
const { Lowerer } = await import(dist('src/derivation/lower.js'));
const mod = await import(pathToFileURL(file).href);
const t0 = performance.now();
const l = new Lowerer(storeDir);
await l.prepare([mod.root]);
const r = l.lowerGrafted(mod.root);
let drvs = l.derivations.size;
if (storeRoot) {
  const { openStore } = await import(dist('src/store/store.js'));
  const { instantiate } = await import(dist('src/derivation/instantiate.js'));
  const store = openStore({ root: storeRoot, storeDir });
  await instantiate(store, l, [r.drvPath]);
  store.close();
}
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, drvs, root: r.drvPath }) + '\n');
