import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Ports handed out by this process and not yet known to be taken, so parallel callers differ. */
const handedOut = new Set<number>();

function listenOnce(port: number, host: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(null);
      else reject(err);
    });
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : null;
      srv.close(() => resolve(got));
    });
  });
}

/** true when nothing listens on host:port (we could bind it). */
export async function isPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return (await listenOnce(port, host)) !== null;
}

/** A port the OS says is free on 127.0.0.1 now; a caller that then fails to bind it picks another. */
export async function findFreePort(host = LOOPBACK): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0, host);
    if (port !== null && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port found on ${host}`);
}
