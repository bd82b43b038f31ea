// Child process of the lowering benchmark: lowers the synthetic collection (argv[2]) for the
// store dir argv[3]; with argv[4] = a store root, also writes every .drv into a fresh store.
// Prints JSON on stdout: `ms` (lowering, and writing when asked, timed in the process once
// the collection is loaded), `lowerMs`, `writeMs`, the number of derivations and the root's
// .drv path. The parent measures wall time and peak RSS of the whole process.
import { pathToFileURL, fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const [file, storeDir, storeRoot] = process.argv.slice(2);
const { Lowerer } = await import(dist('src/derivation/lower.js'));
const { openStore } = storeRoot ? await import(dist('src/store/store.js')) : {};
const { instantiate } = storeRoot ? await import(dist('src/derivation/instantiate.js')) : {};
const mod = await import(pathToFileURL(file).href);
const t0 = performance.now();
const l = new Lowerer(storeDir);
// Cold, as `tsdsl build -d` does: the store is open while lowering, and a worker thread creates
// each .drv file as soon as it is finalized.
const store = storeRoot ? openStore({ root: storeRoot, storeDir }) : undefined;
const files = store?.derivationFiles();
if (files) l.onDerivation = (path, bytes) => files.add(path, bytes);
await l.prepare([mod.root]);
const r = l.lowerGrafted(mod.root);
const t1 = performance.now();
const drvs = l.derivations.size;
if (store) {
  await instantiate(store, l, [r.drvPath], files);
  store.close();
}
const t2 = performance.now();
process.stdout.write(JSON.stringify({ ms: t2 - t0, lowerMs: t1 - t0, writeMs: t2 - t1, drvs, root: r.drvPath }) + '\n');
