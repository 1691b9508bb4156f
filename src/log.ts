/**
 * Structured logging: one event name plus fields. Readable lines by default
 * (stderr, so stdout stays clean for `--format json` and piping), or one JSON
 * object per line with `--log-format json` for log shippers.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  format?: 'text' | 'json';
  level?: LogLevel;
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? 'text';
  const min = ORDER[opts.level ?? 'info'];
  // On a terminal a line first clears the one it lands on: `run` keeps a progress line there ("handled 2/3").
  const clear = format === 'text' && process.stderr.isTTY ? '\r\x1b[K' : '';
  const write = opts.write ?? ((line: string) => process.stderr.write(clear + line + '\n'));
  const now = opts.now ?? (() => new Date());
  const emit = (level: LogLevel, event: string, fields: LogFields = {}) => {
    if (ORDER[level] < min) return;
    if (format === 'json') {
      write(JSON.stringify({ time: now().toISOString(), level, event, ...fields }));
      return;
    }
    const extras = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
      .join(' ');
    const tag = level === 'info' ? '' : `${level.toUpperCase()} `;
    write(`${tag}${event}${extras ? ' ' + extras : ''}`);
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}

/** A logger that keeps events in memory: for tests and for collecting warnings. */
export function memoryLogger(): Logger & { events: Array<{ level: LogLevel; event: string } & LogFields> } {
  const events: Array<{ level: LogLevel; event: string } & LogFields> = [];
  const push =
    (level: LogLevel) =>
    (event: string, fields: LogFields = {}) => {
      events.push({ level, event, ...fields });
    };
  return { events, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}
