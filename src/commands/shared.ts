/** What every command shares: global flags → validated settings and a logger. */
import type { Command } from 'commander';
import { loadConfig, type Config, type Env } from '../config.js';
import { createLogger, type Logger } from '../log.js';

export interface GlobalFlags {
  subscribers?: string;
  dataDir?: string;
  logFormat?: 'text' | 'json';
}

export function setup(cmd: Command): { config: Config; log: Logger } {
  const g = cmd.optsWithGlobals<GlobalFlags>();
  const overrides: Partial<Env> = { SUBSCRIBERS_DIR: g.subscribers, DATA_DIR: g.dataDir, LOG_FORMAT: g.logFormat };
  const config = loadConfig(process.env, process.cwd(), overrides);
  return { config, log: createLogger({ format: config.LOG_FORMAT, level: config.LOG_LEVEL }) };
}
