import { createServer } from 'node:http';
import { mask } from '../db/mask.js';
import { SteepError } from '../model/errors.js';
import type { MetricsSample } from '../model/metrics.js';
import type { Topology } from '../model/topology.js';
import { renderPrometheus } from '../render/prometheus.js';
import { detectDrift } from './drift.js';
import { readStatus } from './status.js';

/**
 * `steep metrics` and `steep status --format prometheus`: one sample of the nodes as Prometheus
 * reads it (render/prometheus.ts), and the HTTP endpoint that serves it. The endpoint reads the
 * nodes at most once per interval, whatever the scrape rate: a scrape within the interval gets
 * the last sample, and scrapes that come while a read runs all wait for that one read.
 */

export async function readMetrics(
  topology: Topology,
  opts: { configPath?: string } = {},
): Promise<MetricsSample> {
  const t0 = performance.now();
  // one after the other: each keeps to settings.maxConnections sessions at once
  const status = await readStatus(topology);
  const drift = opts.configPath ? (await detectDrift(opts.configPath)).report : null;
  return {
    status,
    drift: drift && {
      plannedChanges: drift.changes.length,
      drifted: drift.drifted,
      errors: drift.errors.length,
    },
    readSeconds: (performance.now() - t0) / 1000,
  };
}

/** `--listen`: `HOST:PORT`, `:PORT` (every interface) or `PORT` (127.0.0.1). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535)
    throw new SteepError(
      'usage.listen',
      `--listen ${text}: expected HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:9934)`,
    );
  const host = m[1] === undefined ? '127.0.0.1' : m[1] === '' ? '0.0.0.0' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

/** The last sample's text, read again once it is `intervalMs` old. */
class SampleCache {
  private last: { text: string; at: number } | null = null;
  private reading: Promise<string> | null = null;

  constructor(
    private readonly read: () => Promise<string>,
    private readonly intervalMs: number,
  ) {}

  get(): Promise<string> {
    if (this.last && Date.now() - this.last.at < this.intervalMs) return Promise.resolve(this.last.text);
    if (!this.reading) {
      const at = Date.now();
      this.reading = this.read()
        .then((text) => {
          this.last = { text, at };
          return text;
        })
        .finally(() => {
          this.reading = null;
        });
    }
    return this.reading;
  }
}

/** Serve `/metrics` at `listen`, reading the nodes at most every `intervalMs`. */
export async function serveMetrics(
  topology: Topology,
  configPath: string,
  opts: { listen: { host: string; port: number }; intervalMs: number },
) {
  const cache = new SampleCache(
    async () => mask(renderPrometheus(await readMetrics(topology, { configPath }))),
    opts.intervalMs,
  );
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res
        .writeHead(path === '/' ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' })
        .end(path === '/' ? `steep metrics of topology ${topology.topology}: /metrics\n` : 'not found\n');
      return;
    }
    cache.get().then(
      (text) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${mask((err as Error).message)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new SteepError(
          'metrics.listen',
          `cannot listen on ${opts.listen.host}:${opts.listen.port}: ${err.code ?? err.message}`,
          {
            hint: 'choose another --listen address',
          },
        ),
      ),
    );
    server.listen(opts.listen.port, opts.listen.host, resolve);
  });
  const a = server.address();
  return {
    server,
    address:
      typeof a === 'object' && a
        ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
        : String(a),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
