// The Debian updater's index: parsing a Sources index the size of Debian's (35,000 source
// packages, ~60 MB, made from the recorded stanzas of test/fixtures/update under new names) and
// loading the parsed cache, which is what every refresh/import after the first pays.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');

export async function benchUpdater(report) {
  const { parseSources } = await import(pathToFileURL(join(root, 'dist/src/update/sources-index.js')).href);
  const stanzas = readFileSync(join(root, 'test/fixtures/update/Sources-unstable'), 'utf8').split(/\n\n+/).filter(Boolean);
  const parts = [];
  for (let i = 0; parts.length < 35000; i++) {
    const s = stanzas[i % stanzas.length];
    parts.push(s.replace(/^Package: (\S+)/m, `Package: $1-${i}`));
  }
  const text = parts.join('\n\n') + '\n';
  const times = [];
  let index;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    index = parseSources(text);
    times.push(performance.now() - t0);
  }
  const parseMs = median(times);
  report(`parse a Sources index of ${index.size} packages (${(text.length / 1e6).toFixed(0)} MB, median of 3)`, parseMs.toFixed(0), 'ms', '≤ 2000 ms', parseMs <= 2000);
  const json = JSON.stringify({ entries: [...index.values()] });
  const t0 = performance.now();
  JSON.parse(json);
  const loadMs = performance.now() - t0;
  report(`load the parsed index from its cache (${(json.length / 1e6).toFixed(0)} MB JSON)`, loadMs.toFixed(0), 'ms', '≤ 1000 ms', loadMs <= 1000);
}
