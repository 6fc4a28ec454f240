// bench fingerprint: `steep schema fingerprint` on 1,000 tables of 10 columns, against the bare
// fingerprint SQL sent by psql in the same run. Targets: < 1 s (reference SC-003), and a ratio
// ≤ 1.1× once the CLI's own start is taken off (docs/benchmarks.md).
import { writeFileSync } from 'node:fs';
import { fingerprintsQuery, QUALIFY_NAMES } from '../dist/catalog/queries/columns.js';
import { benchFile, inline, median, psql, report, sql, startNodes, steep, time } from './common.mjs';

const TABLES = Number(process.env.BENCH_TABLES ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

const { servers, stop } = await startNodes(1);
try {
  const [server] = servers;
  const ddl = Array.from(
    { length: TABLES },
    (_, i) =>
      `CREATE TABLE public.t${i} (id bigserial PRIMARY KEY, name varchar(40) NOT NULL, amount numeric(12,2) DEFAULT 0, ` +
      `note text, created timestamptz NOT NULL DEFAULT now(), flag boolean NOT NULL DEFAULT false, doc jsonb, ` +
      `day date, qty integer, ref bigint);`,
  ).join('\n');
  await sql(server, ddl);
  const config = benchFile('fingerprint.yaml');
  writeFileSync(
    config,
    `version: 1\ntopology: bench\nnodes:\n  n0:\n    url: postgres://postgres@127.0.0.1:${server.port}/app\n`,
  );
  const out = await steep(['schema', 'fingerprint', 'n0', '-c', config]);
  const listed = out.split('\n').filter((l) => / col {2}public\.t\d+$/.test(l)).length;
  if (listed !== TABLES)
    throw new Error(`steep listed ${listed} tables, expected ${TABLES}:\n${out.slice(0, 500)}`);

  // the baseline: exactly what steep sends, in one psql session
  const q = fingerprintsQuery({ all: true, schemas: [], tables: [] }, 'steep');
  const script = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n${QUALIFY_NAMES.text};\n${inline(q)};\nCOMMIT;`;
  await psql(server, script);

  // CLI start: `steep --version` (process and oclif); with the file: `steep validate` (also
  // imports and validates steep.yaml, as every command that reads it does, before connecting)
  const steepMs = [];
  const psqlMs = [];
  const startMs = [];
  const validateMs = [];
  for (let r = 0; r < RUNS; r++) {
    steepMs.push(await time(() => steep(['schema', 'fingerprint', 'n0', '-c', config])));
    psqlMs.push(await time(() => psql(server, script)));
    startMs.push(await time(() => steep(['--version'])));
    validateMs.push(await time(() => steep(['validate', '-c', config])));
  }
  const s = median(steepMs);
  const b = median(psqlMs);
  const c = median(startMs);
  const v = median(validateMs);
  const net = Math.max(0, s - c);
  const work = Math.max(0, s - v);
  report(
    'fingerprint',
    {
      tables: TABLES,
      columnsPerTable: 10,
      runs: RUNS,
      steepMs: Math.round(s),
      baselineMs: Math.round(b),
      ratio: +(s / b).toFixed(2),
      cliStartMs: Math.round(c),
      ratioWithoutStart: +(net / b).toFixed(2),
      validateMs: Math.round(v),
      ratioWithoutStartAndConfig: +(work / b).toFixed(2),
      target: { ratioWithoutStart: 1.1, steepMs: 1000 },
    },
    `fingerprint: ${TABLES} tables × 10 columns: steep ${Math.round(s)} ms vs psql ${Math.round(b)} ms = ${(s / b).toFixed(2)}×; ` +
      `without the CLI start (${Math.round(c)} ms) ${Math.round(net)} ms = ${(net / b).toFixed(2)}×; ` +
      `without start and loading steep.yaml (\`validate\` ${Math.round(v)} ms) ${Math.round(work)} ms = ${(work / b).toFixed(2)}× ` +
      '(target ≤ 1.1× without the start, and < 1000 ms in all)',
  );
} finally {
  await stop();
}
