// Synthetic collections for benchmarks: N packages in a layered DAG (each package depends on up
// to FANOUT packages of deeper layers), written as an ES module that uses the real DSL, so
// loading it measures what loading a big collection costs. Deterministic (seeded PRNG).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function prng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Write `synthetic.mjs` into dir; returns its path and the layer sizes. */
export function writeSyntheticCollection(dir, { count = 20000, layers = 40, fanout = 8, seed = 42, dslUrl }) {
  mkdirSync(dir, { recursive: true });
  const rand = prng(seed);
  const perLayer = Math.ceil(count / layers);
  const lines = [
    `import { definePackage, trivial, licenses } from ${JSON.stringify(dslUrl)};`,
    'const m = (name, inputs) => definePackage({ name, version: "1.0", buildSystem: trivial, inputs, synopsis: "Synthetic package", description: "A generated package for benchmarks.", homePage: "https://example.org/", license: licenses.expat });',
  ];
  // Deepest layer first so every input is defined before use.
  const names = [];
  for (let layer = layers - 1; layer >= 0; layer--) {
    for (let i = 0; i < perLayer && names.length < count; i++) {
      const name = `p${layer}-${i}`;
      const deps = [];
      if (layer < layers - 1) {
        const n = 1 + Math.floor(rand() * fanout);
        for (let k = 0; k < n; k++) {
          const l = layer + 1 + Math.floor(rand() * Math.min(3, layers - 1 - layer));
          const j = Math.floor(rand() * perLayer);
          const dep = `p${l}-${j}`;
          if (!deps.includes(dep)) deps.push(dep);
        }
      }
      lines.push(`export const ${name.replace('-', '_')} = m(${JSON.stringify(name)}, [${deps.map((d) => d.replace('-', '_')).join(', ')}]);`);
      names.push(name);
    }
  }
  const top = names.filter((n) => n.startsWith('p0-')).map((n) => n.replace('-', '_'));
  lines.push(`export const root = m("root", [${top.join(', ')}]);`);
  const file = join(dir, 'synthetic.mjs');
  writeFileSync(file, lines.join('\n') + '\n');
  return { file, count: names.length + 1 };
}
