#!/usr/bin/env node
// Run a TypeScript file that imports `tsdsl` and `tsdsl/packages` (an example, a custom-bundle
// script, a manifest) with the running tsdsl: `node scripts/run-ts.mjs examples/custom-bundle.ts`.
import { register } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const here = new URL('.', import.meta.url);
register(new URL('../dist/src/registry/ts-hooks.js', here).href, {
  data: {
    aliases: {
      tsdsl: new URL('../dist/src/index.js', here).href,
      'tsdsl/packages': new URL('../dist/packages/index.js', here).href,
    },
  },
});
const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run-ts.mjs FILE.ts [ARG]...');
  process.exit(2);
}
process.argv = [process.argv[0], resolve(file), ...args];
await import(pathToFileURL(resolve(file)).href);
