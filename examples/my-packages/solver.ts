/**
 * A scientist's own package file: a solver built on the default collection. Load it with
 *   npx tsdsl graph -L examples/my-packages my-solver
 *   npx tsdsl show -L examples/my-packages my-solver
 */
import { definePackage, gnu, licenses, url } from 'tsdsl';
import { hwloc, mumps } from 'tsdsl/packages';

export const mySolver = definePackage({
  name: 'my-solver',
  version: '0.1',
  source: url({
    urls: 'https://example.org/releases/my-solver-0.1.tar.gz',
    // What `tsdsl hash my-solver-0.1.tar.gz` prints (all zeros until you have the file, which lint points out).
    sha256: 'c049949a56b377f131009e44727dd325b62357b21ff87778bf231c7933c79ddc',
  }),
  buildSystem: gnu,
  inputs: [hwloc, mumps],
  arguments: { configureFlags: ['--with-mumps=${mumps}'] },
  synopsis: 'Our group solver',
  description: 'Solves our group\'s sparse systems with MUMPS, placing processes with hwloc.',
  homePage: 'https://example.org/solver',
  license: licenses.gpl3Plus,
});
