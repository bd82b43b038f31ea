// Child of bench/build.mjs: builds two copies of xz that differ only in their name (so two
// independent derivations of the same length, both new) with -j2 and one core each, on the
// store named by TSDSL_ROOT. Run under `time` by the parent, which reads the CPU use.
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const { inherit } = await import(dist('src/index.js'));
const { xz } = await import(dist('packages/index.js'));
const { Lowerer } = await import(dist('src/derivation/lower.js'));
const { instantiate } = await import(dist('src/derivation/instantiate.js'));
const { realise } = await import(dist('src/build/scheduler.js'));
const { openStore } = await import(dist('src/store/store.js'));

const nonce = process.argv[2];
const copies = ['a', 'b'].map((c) => inherit(xz, { name: `xz-bench${nonce}${c}` }));
const store = openStore();
try {
  const lowerer = new Lowerer(store.storeDir);
  await lowerer.prepare(copies);
  const drvs = copies.map((p) => lowerer.lower(p).drvPath);
  await instantiate(store, lowerer, drvs);
  await realise(store, lowerer, drvs, { maxJobs: 2, cores: 1 });
} finally {
  store.close();
}
