/**
 * CPU micro-architectures for `--tune` (Guix's package tuning): the names GCC's `-march`
 * accepts for x86-64, and detection of the host's level (`--tune` or `--tune=native`) from
 * /proc/cpuinfo flags, mapped to the portable x86-64-v2/v3/v4 levels so the result is the same
 * on every machine with the same features.
 */
import { readFileSync } from 'node:fs';
import { TsdslError, didYouMean } from '../errors.js';

export const KNOWN_CPUS: readonly string[] = [
  'x86-64', 'x86-64-v2', 'x86-64-v3', 'x86-64-v4',
  'nehalem', 'westmere', 'sandybridge', 'ivybridge', 'haswell', 'broadwell', 'skylake', 'skylake-avx512',
  'cascadelake', 'cooperlake', 'icelake-client', 'icelake-server', 'tigerlake', 'sapphirerapids', 'alderlake', 'emeraldrapids', 'graniterapids',
  'znver1', 'znver2', 'znver3', 'znver4', 'btver2',
];

/** The x86-64 level this machine supports, from its CPU flags. */
export function detectCpu(cpuinfo?: string): string {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return 'x86-64';
    }
  }
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/));
  const has = (...f: string[]) => f.every((x) => flags.has(x));
  if (has('avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl', 'avx2', 'bmi2', 'fma')) return 'x86-64-v4';
  if (has('avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'movbe', 'xsave')) return 'x86-64-v3';
  if (has('cx16', 'lahf_lm', 'popcnt', 'sse4_1', 'sse4_2', 'ssse3')) return 'x86-64-v2';
  return 'x86-64';
}

/** Check a `--tune` value; `native` (or no value) becomes the detected level. */
export function resolveCpu(value: string): string {
  if (value === '' || value === 'native') return detectCpu();
  if (!KNOWN_CPUS.includes(value)) {
    // `generic` is what tuning for no CPU in particular is called elsewhere: here, no --tune at all.
    const none = /^(generic|none|default)$/i.test(value) ? '; for no tuning, leave --tune out' : '';
    throw new TsdslError(`--tune: unknown CPU \`${value}\`${didYouMean(value, KNOWN_CPUS)}${none} (known: ${KNOWN_CPUS.join(', ')}, or native)`);
  }
  return value;
}
