/**
 * What every package-taking command does first: load the collection (default + `-L` dirs),
 * resolve the spec arguments, and apply the transformation options in command-line order.
 */
import type { Package } from '../dsl/package.js';
import type { Collection } from '../registry/collection.js';
import { loadCollection } from '../registry/load.js';
import { applyTransformOptions } from '../transform/options.js';
import type { OptionSpec, ParsedArgs } from './options.js';
import { loadOptions } from './options.js';
import { transformOptionSpecs } from './transform-options.js';
import { warn } from './command.js';

/** Load options and transformation options: append to a command's own table. */
export const packageOptions: readonly OptionSpec[] = [...loadOptions, ...transformOptionSpecs];

/** Load the collection named by `-L`/TSDSL_PACKAGE_PATH. */
export async function collectionFrom(args: ParsedArgs): Promise<Collection> {
  return loadCollection({ loadPath: (args.values['load-path'] as string[] | undefined) ?? [] });
}

/** Resolve specs and apply every transformation option, warning about those with no effect. */
export async function packagesFrom(args: ParsedArgs, specs: readonly string[], collection?: Collection): Promise<{ collection: Collection; packages: Package[] }> {
  const c = collection ?? (await collectionFrom(args));
  const resolved = c.resolveAll(specs);
  const packages = await applyTransformOptions(resolved, args.ordered, c, { warn });
  return { collection: c, packages };
}
