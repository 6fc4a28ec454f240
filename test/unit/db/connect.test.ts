import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../src/db/connect.js';

/**
 * A blackholed node, without a network: a local port that accepts and never answers, and one
 * that accepts and closes (a proxy or port forward with nothing behind it). The real driver
 * connects to it; the error is one sentence naming the node, host:port and the connect timeout.
 */
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];

async function listen(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

let silent: number;
let closing: number;
beforeAll(async () => {
  silent = await listen(() => {});
  closing = await listen((socket) => socket.on('data', () => socket.end()));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function failure(port: number, sslmode: string): Promise<string> {
  const spec = { host: '127.0.0.1', port, database: 'app', user: 'steep', password: 'Secret-4711', sslmode };
  const err = await connect(spec, { node: 'east', connectTimeoutMs: 300 }).then(
    () => new Error('connected'),
    (e: Error) => e,
  );
  return err.message;
}

describe('a node that does not answer as PostgreSQL', () => {
  for (const sslmode of ['disable', 'prefer', 'require']) {
    it(`accepts and never answers (sslmode ${sslmode}): the timeout, where, and what to check`, async () => {
      const message = await failure(silent, sslmode);
      expect(message).toBe(
        `node east: connection to 127.0.0.1:${silent}/app as steep timed out after 0.3s; nothing answered: check the host and port, and that no firewall drops the connection (or raise settings.connectTimeout)`,
      );
    });

    it(`accepts and closes (sslmode ${sslmode}): not "Connection terminated unexpectedly"`, async () => {
      const message = await failure(closing, sslmode);
      expect(message).toBe(
        `node east: 127.0.0.1:${closing} closed the connection before PostgreSQL answered (within the 0.3s connect timeout); check that a PostgreSQL server listens there, not a proxy, load balancer or port forward with nothing behind it, and that no firewall cuts the connection`,
      );
      expect(message).not.toContain('Secret-4711');
    });
  }
});
