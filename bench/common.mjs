// What every benchmark script shares: the median, the aligned report lines (with each figure
// kept for the script's closing JSON line), and how to start `tsdsl` as the installed command does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(fileURLToPath(import.meta.url), '..', '..', 'bin', 'tsdsl.js');

/**
 * The options `tsdsl` starts Node with: those of bin/tsdsl.js's `exec node … "$0" "$@"` line.
 * A bench runs the command with them (`node bin/tsdsl.js` would not), and so does a child that
 * stands for the command (the lowering bench's), so that both are measured as users run them.
 */
export const nodeOptions = (() => {
  const m = /^":" \/\/; exec node((?: --[^\s"]+)*) "\$0" "\$@"$/m.exec(readFileSync(BIN, 'utf8'));
  if (!m) throw new Error(`${BIN} has no \`":" //; exec node … "$0" "$@"\` line`);
  return m[1].trim().split(' ').filter(Boolean);
})();

/** The arguments of `process.execPath` that run `tsdsl ARGS` as the installed command does. */
export const tsdslArgv = (...args) => [...nodeOptions, BIN, ...args];

/** The median of a list of numbers (the upper one of the middle two for an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A report function: prints `name value unit (target …) ok|MISSED` aligned, and appends each
 * figure to `results` (the script prints them as JSON at its end).
 */
export function reporter(results, { width = 58, unitWidth = 4 } = {}) {
  return (name, value, unit, target, ok) => {
    results.push({ name, value, unit, target, ok });
    const mark = ok === undefined ? '' : ok ? '  ok' : '  MISSED';
    console.log(`${name.padEnd(width)} ${String(value).padStart(10)} ${unit.padEnd(unitWidth)} ${target ? `(target ${target})` : ''}${mark}`);
  };
}
