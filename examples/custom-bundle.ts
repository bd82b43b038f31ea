/**
 * A custom bundle through the API: hwloc transformed to skip its test suite, packed as a tarball
 * with /bin linked to the profile's bin. Run it with
 *
 *   node scripts/run-ts.mjs examples/custom-bundle.ts [OUTPUT.tar.gz]
 *
 * It builds what the store lacks (the first time: the bootstrap toolchain and hwloc, a few
 * minutes), then prints the pack's path, size and the store items it holds.
 */
import { pack, transform } from 'tsdsl';
import { hwloc } from 'tsdsl/packages';

export async function main(output = 'hwloc-custom-bundle.tar.gz'): Promise<void> {
  // The same as `tsdsl pack hwloc --without-tests=hwloc -S /bin=bin`, in code.
  const quickHwloc = transform(hwloc, { withoutTests: ['hwloc'] });
  const result = await pack({
    packages: [quickHwloc],
    format: 'tarball',
    symlinks: { '/bin': 'bin' },
    output,
    onWarning: (w) => console.error(`warning: ${w}`),
  });
  console.log(`${result.path} (${(result.size / 2 ** 20).toFixed(1)} MiB, ${result.closure.length} store items)`);
  for (const item of result.closure) console.log(`  ${item}`);
}

// Run when executed as a script (not when a test imports it).
if (process.argv[1]?.endsWith('custom-bundle.ts')) await main(process.argv[2]);
