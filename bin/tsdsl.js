#!/bin/sh
":" //; exec node --max-semi-space-size=4 --v8-pool-size=1 "$0" "$@"
// The line above is read by sh (`:` does nothing, then Node is started on this file) and by
// Node (a string, then a comment), so that Node starts with options a running process cannot
// set and a portable `#!` line cannot pass: a young generation of at most 4 MB instead of 16
// (V8 reuses the same few pages for its short-lived objects rather than touching fresh ones as
// it grows; on virtual machines a fresh page costs 5 to 15 µs) and one V8 worker thread instead
// of one per core (its compiler and collector threads then leave the main thread a core of its
// own on small machines). Lowering 20,000 packages takes a sixth less time and a fifth less
// memory on a two-core VM (docs/architecture.md).
// `node bin/tsdsl.js` works as well, with Node's defaults.
import { main } from '../dist/src/cli/main.js';

// When nothing is left to run but main() has not finished (a package file whose top-level
// `await` never settles), Node would exit with status 0 and no word: say what never finished.
let finished = false;
process.once('beforeExit', async () => {
  if (finished) return;
  const { unfinishedLoad } = await import('../dist/src/registry/load.js');
  const file = unfinishedLoad();
  process.stderr.write(
    file
      ? `tsdsl: error: loading package file ${file} never finished: its top-level \`await\` waits for something that will never happen (a promise nobody resolves); fix or remove that await\n`
      : 'tsdsl: error: tsdsl stopped with work unfinished: nothing it was waiting for can happen any more (please report it, with the command)\n',
  );
  process.exitCode = 1;
});
main(process.argv.slice(2)).then((code) => {
  finished = true;
  process.exitCode = code;
});
