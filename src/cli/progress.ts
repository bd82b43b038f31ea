/**
 * Progress of long work (builds, downloads) for the terminal. On a TTY, one status line is
 * redrawn: what is building, its phase, elapsed time, and the last line of its log (or bytes
 * downloaded). Otherwise — pipes, CI logs — plain, line-oriented messages on stderr, one per
 * event that matters (start, done, failure), easy to grep.
 */
import type { BuildEvent } from '../build/scheduler.js';

export interface Reporter {
  event(e: BuildEvent): void;
  close(): void;
}

function human(bytes: number): string {
  return bytes > 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

/**
 * Whether lines may be redrawn on `stream` (`\r` and erase-line): a terminal that understands
 * them, outside CI. `TERM=dumb` (Emacs shells, some CI runners) gets plain lines.
 */
export function redraws(stream: NodeJS.WriteStream = process.stderr): boolean {
  return Boolean(stream.isTTY) && !process.env['CI'] && process.env['TERM'] !== 'dumb';
}

/** How many of `total` downloads the download cache holds: ` (all in the download cache)`, or '' for none. */
export function inCache(cached: number, total: number): string {
  return !cached ? '' : cached === total ? ' (all in the download cache)' : ` (${cached} of them in the download cache)`;
}

/** A reporter for stderr: a redrawn status line on a TTY, plain lines otherwise. */
export function progressReporter(options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Reporter {
  const stream = options.stream ?? process.stderr;
  const tty = redraws(stream);
  const active = new Map<string, { name: string; phase: string; line: string; started: number }>();
  let last = '';
  let timer: NodeJS.Timeout | undefined;

  const draw = () => {
    if (!tty) return;
    // A terminal that reports no width (0: `script`, a serial console, before a resize) is 80 wide.
    const width = (stream.columns || 80) - 1;
    const parts = [...active.values()].map((a) => `${a.name} [${a.phase}] ${Math.round((Date.now() - a.started) / 1000)}s ${a.line}`);
    const text = parts.join(' | ').replace(/\s+/g, ' ').slice(0, width);
    if (text !== last) stream.write(`\r\x1b[K${text}`);
    last = text;
  };
  const say = (text: string) => {
    if (options.quiet) return;
    if (tty) stream.write('\r\x1b[K');
    stream.write(`${text}\n`);
    last = '';
    draw();
  };
  if (tty) timer = setInterval(draw, 250).unref();

  // The fixed-output derivations of the plan: downloads, said as such (or copies, when the
  // download cache holds the file already).
  const fetches = new Set<string>();
  const cached = new Set<string>();
  const doing = (drvPath: string, name: string, done: boolean): string =>
    cached.has(drvPath)
      ? `${done ? 'copied' : 'copying'} ${name} from the download cache`
      : `${fetches.has(drvPath) ? (done ? 'downloaded' : 'downloading') : done ? 'built' : 'building'} ${name}`;
  return {
    event(e) {
      switch (e.kind) {
        case 'plan': {
          for (const d of e.fetch) fetches.add(d);
          for (const d of e.cached) cached.add(d);
          if (e.build.length || e.fetch.length) say(`${e.build.length} to build, ${e.fetch.length} to download${inCache(e.cached.length, e.fetch.length)}`);
          break;
        }
        case 'start':
          active.set(e.drvPath, { name: e.name, phase: 'start', line: '', started: Date.now() });
          if (!tty) say(doing(e.drvPath, e.name, false));
          draw();
          break;
        case 'wait':
          say(
            e.elsewhere
              ? `waiting for process ${e.pid} of another PID namespace or host, which holds the lock on ${e.name} (another tsdsl building it); whether it still runs cannot be told from here: if it is gone, remove its lock file in ${'$'}TSDSL_ROOT/var/locks`
              : `waiting for process ${e.pid}, which holds the lock on ${e.name} (another tsdsl building it)`,
          );
          break;
        case 'phase': {
          const a = active.get(e.drvPath);
          if (a) a.phase = e.phase;
          draw();
          break;
        }
        case 'line': {
          const a = active.get(e.drvPath);
          if (a) a.line = e.line.trim();
          break;
        }
        case 'progress': {
          const a = active.get(e.drvPath);
          if (a) a.line = e.total ? `${human(e.bytes)} of ${human(e.total)}` : human(e.bytes);
          break;
        }
        case 'done':
          active.delete(e.drvPath);
          if (e.elsewhere) say(`${e.name} was ${fetches.has(e.drvPath) ? 'downloaded' : 'built'} by another tsdsl meanwhile`);
          else say(`${doing(e.drvPath, e.name, true)} in ${(e.ms / 1000).toFixed(1)} s`);
          break;
        case 'fail':
          active.delete(e.drvPath);
          say(`failed: ${e.name}`);
          break;
      }
    },
    close() {
      if (timer) clearInterval(timer);
      if (tty && last) stream.write('\r\x1b[K');
    },
  };
}
