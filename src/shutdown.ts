/**
 * Graceful stop on SIGTERM / SIGINT: the first signal asks the work to stop
 * (take no new message, let the one in flight finish, flush, exit); a second
 * one exits at once, for an operator who really means it (a message in
 * flight is then reported as ambiguous by the next run).
 */
import type { Logger } from './log.js';

export function trapShutdown(log: Logger, stop: (signal: NodeJS.Signals) => void): () => void {
  let asked = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (asked) {
      log.warn('shutdown.forced', { signal });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    asked = true;
    log.info('shutdown.requested', { signal, note: 'finishing the message in flight; send the signal again to exit at once' });
    stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
