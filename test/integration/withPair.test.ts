/**
 * withPair (src/workflows/verify.ts) opens a session on each of two nodes together: when one of
 * them fails to open, the session already open on the other is ended, not left behind.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseTopology } from '../../src/config/load.js';
import { withPair } from '../../src/workflows/verify.js';
import { defaultVersion, useCluster } from '../support/cluster.js';
import { eventually, nodesYaml, passwordEnv } from '../support/topologyFile.js';

const version = defaultVersion();

describe(`withPair (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['east'], version });

  it('ends the session it opened when the other node fails to open', async () => {
    const east = cluster().node('east');
    // west accepts the connection and answers nothing until the test cuts it
    const held = new Set<net.Socket>();
    const server = net.createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // libpq's sslmode prefer tries again without TLS: closed, west refuses that attempt at once
    const cut = () => {
      if (server.listening) server.close();
      for (const socket of held) socket.destroy();
    };
    onTestFinished(cut);
    const westPort = (server.address() as net.AddressInfo).port;
    const yaml = `version: 1\ntopology: pair\n${nodesYaml([east])}\n  west:\n    url: postgres://postgres@127.0.0.1:${westPort}/app\n`;
    const { topology } = parseTopology(yaml, 'steep.yaml', passwordEnv([east]));
    const app = `steep pair test ${process.pid}`;
    const sessions = async () =>
      (
        await east.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [app],
        )
      )[0]!.n;

    let worked = false;
    const failed = expect(
      withPair(topology, ['east', 'west'], 'compare', app, async () => {
        worked = true;
      }),
    ).rejects.toThrow();
    await eventually(
      async () => held.size === 1 && (await sessions()) === 1,
      undefined,
      'east open, west held',
    );
    cut();
    await failed;
    expect(worked).toBe(false);
    await eventually(async () => (await sessions()) === 0, undefined, "east's session ended");
  });
});
