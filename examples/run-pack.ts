/**
 * Running without root through the API: pack hwloc, run `lstopo-no-graphics` from the pack with
 * whatever engine works here, then run it again straight from the packages in a container that
 * sees only their closure. Run it with
 *
 *   node scripts/run-ts.mjs examples/run-pack.ts [PACK.tar.gz]
 *
 * It builds what the store lacks, and exits with lstopo's status.
 */
import { pack, run } from 'tsdsl';

export async function main(output = 'hwloc-run-example.tar.gz'): Promise<number> {
  const { path } = await pack({ packages: ['hwloc'], symlinks: { '/bin': 'bin' }, output });
  // The same as `tsdsl run PACK -- lstopo-no-graphics --of console`.
  const fromPack = await run({ pack: path, command: ['lstopo-no-graphics', '--of', 'console'] });
  if (fromPack !== 0) return fromPack;
  // The same as `tsdsl shell --container hwloc -- lstopo-no-graphics --only core`.
  return run({ packages: ['hwloc'], command: ['lstopo-no-graphics', '--only', 'core'], container: true });
}

// Run when executed as a script (not when a test imports it).
if (process.argv[1]?.endsWith('run-pack.ts')) process.exitCode = await main(process.argv[2]);
