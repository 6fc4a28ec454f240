import path from 'node:path';
import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { jsonText } from '../cli/jsonText.js';
import { printAddress } from '../model/address.js';
import { formatProblem } from '../model/errors.js';
import { count } from '../render/count.js';
import { renderPlanText, summaryLine } from '../render/planText.js';
import { packageRoot } from '../sandbox/quickstart.js';
import { type DemoView, runDemo } from '../workflows/demo.js';

export default class Demo extends SteepCommand {
  static override summary =
    'The quickstart: start two local nodes, seed them, plan, apply, and watch a row replicate.';
  static override description =
    "It runs examples/quickstart/steep.yaml, whose nodes keep running on 55432 and 55433 after it ends (its sandbox lives in examples/quickstart/.steep/); its last lines say how to stop them. With --dir, the quickstart is copied into that directory (kept for the next run) and its nodes and their data live there instead. When another program holds one of the quickstart's ports, the demo says so and runs a copy on free ports under .steep/demo/ next to the file.";
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --dir /tmp/steep-demo'];
  static override flags = {
    dir: Flags.string({
      summary: 'Run the quickstart copied into this directory, its sandbox there too.',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Demo);
    const t0 = Date.now();
    const root = packageRoot();
    let file = '';
    const view: DemoView = {
      starting: ({ configPath, taken, name }) => {
        file = path.relative(process.cwd(), configPath) || configPath;
        for (const t of taken) {
          this.out(
            `Port ${t.port} of node ${t.node} is taken by another program: the demo runs a copy of the quickstart on free ports.`,
          );
        }
        this.out(`1. Sandbox for ${file} (topology ${name}): starting its nodes`);
      },
      sandbox: (quickstart) => {
        for (const w of quickstart.warnings) this.err(formatProblem(w));
        for (const n of quickstart.nodes) {
          this.out(
            `   node ${n.node}: ${n.outcome === 'already-running' ? 'already running' : n.outcome}, PostgreSQL ${n.version}, ${n.url}`,
          );
        }
        for (const s of quickstart.seeded) {
          const tables = Object.entries(s.tables).map(([t, rows]) => `${t} (${rows} rows)`);
          this.out(`   seeded ${s.node} with ${s.file}: ${tables.join(', ')}`);
        }
      },
      plan: (plan) => {
        this.out('', `2. steep plan -c ${file}`, '');
        this.out(renderPlanText(plan).replace(/^/gm, '   '));
        this.out('', `3. steep apply -c ${file} --auto-approve`);
      },
      stepEnded: (step, ms) =>
        this.out(`   ${step.action} ${printAddress(step.address)} on ${step.node}: done in ${ms} ms`),
      applied: (applied) => this.out(`   ${count(applied.completed.length, 'step')} applied.`),
      replicated: (r) => {
        this.out('', `4. A row inserted on ${r.publisher} arrives on ${r.subscriber} in ${r.ms} ms:`);
        this.out(`   ${jsonText(r.row)}`);
      },
      replan: (plan) => this.out('', `5. steep plan again: ${summaryLine(plan)}`),
    };
    await runDemo(view, flags.dir);
    const bin = process.cwd() === root ? './bin/run.js' : 'steep';
    this.out('', `Done in ${((Date.now() - t0) / 1000).toFixed(1)} s. Try next:`);
    const next: Array<[string, string]> = [
      [`${bin} plan -c ${file}`, 'what steep would change now'],
      [`${bin} sandbox status -c ${file}`, 'the local nodes'],
      [`${bin} sandbox down -c ${file} --purge`, 'stop them and delete their data'],
    ];
    const width = Math.max(...next.map(([c]) => c.length));
    for (const [command, what] of next) this.out(`   ${command.padEnd(width)}   ${what}`);
  }
}
