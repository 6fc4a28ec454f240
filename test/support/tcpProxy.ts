import net from 'node:net';

/**
 * A TCP proxy in the test process between a subscriber's replication workers and a publisher:
 * the publisher's `replicationUrl` points at it, so a test can cut the subscriber's path while
 * steep's own sessions (the node's `url`) still reach the publisher.
 *
 *   const proxy = await TcpProxy.start(publisher.port);
 *   proxy.cut();        // every open connection is reset; new ones still get through
 *   await proxy.refuse(); // cut, and nothing listens on the port any more (ECONNREFUSED)
 *   await proxy.open();   // listening again on the same port
 */
export class TcpProxy {
  /** connections accepted since start */
  accepted = 0;
  /** connections destroyed by cut() */
  cutCount = 0;
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;

  private constructor(
    readonly targetPort: number,
    readonly targetHost: string,
    public port: number,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, targetHost, 0);
    await proxy.open();
    return proxy;
  }

  /** Connections open right now (each a client socket and its upstream socket). */
  get active(): number {
    return this.sockets.size / 2;
  }

  get listening(): boolean {
    return this.server !== null;
  }

  /** Listen (again) on the proxy's port; the first time on a free one. */
  async open(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => this.pipe(client));
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  private pipe(client: net.Socket): void {
    this.accepted += 1;
    const upstream = net.connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
      s.on('close', () => {
        this.sockets.delete(s);
        // one side gone: the other follows (a half-open pair would hang a walreceiver)
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Reset every open connection (both sides); the proxy keeps accepting new ones. */
  cut(): number {
    const pairs = this.active;
    this.cutCount += pairs;
    for (const s of [...this.sockets]) {
      try {
        s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
    return pairs;
  }

  /** Cut every open connection and stop listening: new connections are refused. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined;
    this.cut();
    await closed;
  }

  /** Stop for good. */
  async stop(): Promise<void> {
    await this.refuse();
  }
}
