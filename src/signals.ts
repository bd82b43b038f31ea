/**
 * Signals while tsdsl works: what it catches so that an interrupt stops the work cleanly (no
 * half-written store item, pack or unpacking), and the exit status it then reports.
 */
import { constants as osConstants } from 'node:os';

/** Ctrl-C, `kill`, and a closed terminal or dropped ssh: what stops a command's work. */
export const INTERRUPTS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** 128 + the signal's number, as a shell reports a command a signal ended (`fallback` + 128 without one). */
export function signalExitCode(signal: NodeJS.Signals | null | undefined, fallback = 0): number {
  return 128 + ((signal ? osConstants.signals[signal] : undefined) ?? fallback);
}

/** Signals caught until `end()` (see `holdSignals`). */
export interface SignalHold {
  /** The first signal caught, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** Until `end()`. */
  readonly active: boolean;
  /**
   * Lets a signal that came during synchronous work reach its handler. It waits in libuv's
   * signal pipe until the event loop next polls; a timer does not wait for that poll (its start
   * is the loop's time from before the work, so it is due at once and may run first), but two
   * turns of the loop (setImmediate twice) take in one poll at least.
   */
  pending(): Promise<void>;
  /** Stops catching them: Node's default action (the process ends) applies again. */
  end(): void;
}

/**
 * Resolves once a signal already delivered has been handled: its event waits behind the
 * current task (two turns of the event loop, as its watcher runs in the poll phase).
 */
export async function signalsHandled(): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise((next) => setImmediate(next));
}

/**
 * Catches `signals` (by default INTERRUPTS) until `end()`: each calls `onSignal` (to stop a child,
 * abort a controller), and the first is kept as `received`, for the caller to end with
 * `signalExitCode` once the work is safely stopped.
 */
export function holdSignals(onSignal?: (signal: NodeJS.Signals) => void, signals: readonly NodeJS.Signals[] = INTERRUPTS): SignalHold {
  let received: NodeJS.Signals | undefined;
  let active = true;
  const handler = (signal: NodeJS.Signals): void => {
    received ??= signal;
    onSignal?.(signal);
  };
  for (const s of signals) process.on(s, handler);
  return {
    get received() {
      return received;
    },
    get active() {
      return active;
    },
    pending: signalsHandled,
    end() {
      if (active) for (const s of signals) process.off(s, handler);
      active = false;
    },
  };
}
