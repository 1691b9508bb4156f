/** `paperboy serve`: the web app (preview, admin, subscriber self-service). */
import type { Command } from 'commander';
import { createServer, type AddressInfo } from 'node:net';
import { localUrl } from '../config.js';
import { PaperboyError } from '../errors.js';
import { startServer } from '../server/app.js';
import { isLoopback } from '../server/security.js';
import { loadSecret } from '../tokens.js';
import { setup } from './shared.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the web app: /preview, /admin and the unsubscribe / manage links (global --subscribers DIR applies)')
    .option('--port <n>', 'port to listen on (env PORT, default 8787)')
    .action(async (flags: { port?: string }, cmd: Command) => {
      const { config: loaded, log } = setup(cmd);
      let port = loaded.PORT;
      if (flags.port !== undefined) {
        port = Number(flags.port);
        if (!/^\d+$/.test(flags.port) || port > 65535)
          throw new PaperboyError('USAGE', `--port: "${flags.port}" is not a port number (0-65535)`);
      }
      // An unset PUBLIC_URL means "this machine": links in the pages served must reach the port actually served.
      // Port 0 ("any free port") is only known once bound, so ask the OS for a free one first.
      if (port === 0 && !loaded.publicUrlSet) port = await freePort(loaded.HOST);
      const config = !loaded.publicUrlSet ? { ...loaded, PUBLIC_URL: localUrl(port) } : loaded;
      const secret = await loadSecret(config.TOKEN_SECRET, config.dataDir);
      const server = await startServer({ config, secret, log, port });
      log.info('serve.listening', { url: server.url, public: config.PUBLIC_URL, subscribers: config.subscribersDir });
      if (!config.ADMIN_TOKEN)
        log.warn('serve.admin_locked', { reason: 'ADMIN_TOKEN is not set: /admin stays locked and /preview shows topic sets only' });
      if (!isLoopback(config.HOST) && !config.PUBLIC_URL.startsWith('https://')) {
        log.warn('serve.plain_http', {
          reason: `listening on ${config.HOST} while PUBLIC_URL is not https: put a TLS reverse proxy in front`,
        });
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info('serve.stopping', { signal });
          void server.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

/** A port free on `host` a moment ago, as the OS hands out for port 0. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
