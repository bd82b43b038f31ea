// What every benchmark script shares: the median, and the aligned report lines (with each
// figure kept for the script's closing JSON line).

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
