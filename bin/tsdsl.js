#!/usr/bin/env node
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
