/**
 * The shape of a command module: an options table, help text with examples, and `run`.
 * Commands are thin: they parse, call the API, print.
 */
import type { OptionSpec, ParsedArgs } from './options.js';

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** e.g. `tsdsl graph [OPTION]... PACKAGE...` */
  readonly usage: string;
  /** A paragraph after the usage line. */
  readonly details?: string;
  readonly examples: ReadonlyArray<readonly [command: string, explanation: string]>;
  readonly options: readonly OptionSpec[];
  /** Takes a command to run after `--` (run, shell); for the others, words after `--` are an error. */
  readonly takesCommand?: boolean;
  /**
   * Exit 1 is one of its results (lint's findings, search's no match, style -n's would-change),
   * as with grep and diff: its errors then exit 2, so a script can tell them apart.
   */
  readonly exitOneIsResult?: boolean;
  run(args: ParsedArgs): Promise<number>;
}

/**
 * What standard output carries when a reader that goes away early must not look like success
 * (`tsdsl pack -o - | ssh host tar x`): set while it is written, and the CLI then ends with an
 * error naming it, instead of quietly. Undefined: text a reader may stop reading (`| head`).
 */
export const stdoutData: { what: string | undefined } = { what: undefined };

/** Write to stdout, ending quietly when the reader went away (`tsdsl graph mumps | head`). */
export function out(text: string): void {
  if (text) process.stdout.write(text);
}

/** Write a line to stderr (diagnostics, warnings, progress). */
export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Print a warning in the standard form. */
export function warn(text: string): void {
  err(`tsdsl: warning: ${text}`);
}
