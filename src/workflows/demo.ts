import type { ApplyEvent } from '../executors/events.js';
import type { Plan, Step } from '../model/plan.js';
import { insertAndReadBack, quickstartFile, runQuickstart } from '../sandbox/quickstart.js';
import { applyPlan } from './apply.js';
import { makePlan } from './plan.js';

type QuickstartFile = Awaited<ReturnType<typeof quickstartFile>>;
type Quickstart = Awaited<ReturnType<typeof runQuickstart>>;
type Applied = Awaited<ReturnType<typeof applyPlan>>;

/** What the demo shows, stage by stage, as each ends: no stage waits in silence for the next. */
export interface DemoView {
  /** before the nodes start (the slowest stage on a first run: initdb of each) */
  starting(file: QuickstartFile): void;
  sandbox(quickstart: Quickstart): void;
  plan(plan: Plan): void;
  /** each step of the apply as it ends (the apply's copy is the demo's longest wait) */
  stepEnded(step: Step, ms: number): void;
  applied(applied: Applied): void;
  replicated(r: { publisher: string; subscriber: string; row: unknown; ms: number }): void;
  replan(plan: Plan): void;
}

/**
 * `npm run demo`: start and seed the quickstart sandbox, plan, apply, insert a row on the
 * publisher and read it on the subscriber, then show that a fresh plan is empty. When another
 * program holds one of the quickstart's ports, a copy of it on free ports runs instead; `dir`: the
 * quickstart copied to (and run in) that directory. The view renders each stage as it ends.
 */
export async function runDemo(view: DemoView, dir?: string): Promise<void> {
  const file = await quickstartFile(dir);
  view.starting(file);
  const quickstart = await runQuickstart(file.configPath);
  view.sandbox(quickstart);
  const { topology, plan } = await makePlan(quickstart.configPath);
  view.plan(plan);
  const onEvent = (e: ApplyEvent) => {
    const step = e.event === 'apply.step_completed' && plan.steps.find((s) => s.id === e.step);
    if (step) view.stepEnded(step, e.duration_ms ?? 0);
  };
  const applied = await applyPlan(topology, plan, { allowDestroy: false, parallel: 4, onEvent });
  if (applied.failed.length > 0) throw applied.failed[0]!.error;
  view.applied(applied);

  const sub = Object.values(topology.subscriptions)[0]!;
  const publisher = topology.nodes[sub.from]!;
  const subscriber = topology.nodes[sub.node]!;
  const note = `demo ${new Date().toISOString()}`;
  const t0 = Date.now();
  const row = await insertAndReadBack(publisher, subscriber, note);
  view.replicated({ publisher: publisher.name, subscriber: subscriber.name, row, ms: Date.now() - t0 });
  view.replan((await makePlan(quickstart.configPath)).plan);
}
