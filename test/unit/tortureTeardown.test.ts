import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type Arena, runSequence, stopAbandoned, worldArena } from '../../torture/sequence.js';
import { World } from '../../torture/world.js';
import type { TestCluster, TestNode } from '../support/cluster.js';
import { eventually } from '../support/topologyFile.js';

/**
 * The end of a torture sequence (torture/sequence.ts) stops its servers however it ended, without
 * PostgreSQL: the world's nodes are a TCP server that accepts and never answers, so every write
 * of the application hangs as a commit on pa did while it waited for a synchronous standby whose
 * slot was lost (nightly seed 180090: the sequence ended at a ceiling and its three servers ran
 * until the whole run ended). "Stopping the servers" closes that TCP server and its connections.
 */
async function silentServers() {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  let stopped = false;
  const node = (name: string) => ({ name, port, password: 'not-used', version: 18 }) as unknown as TestNode;
  const nodes = [node('pa'), node('pb')];
  const cluster: TestCluster = {
    nodes,
    node: (name) => nodes.find((n) => n.name === name)!,
    stop: async () => {
      stopped = true;
      for (const s of sockets) s.destroy();
      await new Promise((res) => server.close(res));
    },
  };
  return { cluster, sockets, stopped: () => stopped };
}

/** the writer loops of World.startWriters: ids, families, churn, rows, two side doors */
const WRITERS = 6;
const CEILING = 'still waiting for pa_standby to be a synchronous standby after 120000 ms: a hang';

describe('the end of a torture sequence', () => {
  it('ends at a ceiling while every write hangs: the servers stop under the writes, and the error is reported', async () => {
    const servers = await silentServers();
    const world = new World(18, servers.cluster, 'snapshot', null);
    const started = Date.now();
    const start = async (): Promise<Arena> => {
      const real = worldArena(world, 200);
      return {
        result: real.result,
        // an operation's ceiling, reached while every writer waits on a write that never returns
        perform: async () => {
          await eventually(async () => servers.sockets.size >= WRITERS, 10_000, 'every writer in a write');
          throw new Error(CEILING);
        },
        stop: () => real.stop(),
      };
    };
    await expect(runSequence(18, { method: 'snapshot', commands: [] }, start)).rejects.toThrow(CEILING);
    expect(servers.stopped()).toBe(true);
    expect(servers.sockets.size).toBe(0);
    expect(world.log.join('\n')).toContain("the application's writes did not end within 200 ms");
    // the writers' bound twice at most, and the wait for them to connect: not a hang
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 20_000);

  it('abandoned by its test (a ceiling of vitest): the next test stops its servers', async () => {
    const servers = await silentServers();
    const world = new World(18, servers.cluster, 'snapshot', null);
    let inOperation: () => void = () => {};
    const entered = new Promise<void>((res) => {
      inOperation = res;
    });
    const start = async (): Promise<Arena> => {
      const real = worldArena(world, 200);
      // an operation that never returns (no ceiling of its own)
      const perform = () => {
        inOperation();
        return new Promise<void>(() => {});
      };
      return { result: real.result, perform, stop: () => real.stop() };
    };
    void runSequence(18, { method: 'snapshot', commands: [] }, start);
    await entered;
    expect(await stopAbandoned()).toBe(1);
    expect(servers.stopped()).toBe(true);
    expect(await stopAbandoned()).toBe(0);
  }, 20_000);
});
