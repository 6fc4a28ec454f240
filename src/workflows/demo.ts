import type { EventSink } from '../executors/events.js';
import { insertAndReadBack, quickstartFile, runQuickstart } from '../sandbox/quickstart.js';
import { applyPlan } from './apply.js';
import { makePlan } from './plan.js';

/**
 * `npm run demo`: start and seed the quickstart sandbox, plan, apply, insert a row on the
 * publisher and read it on the subscriber, then show that a fresh plan is empty. When another
 * program holds one of the quickstart's ports, a copy of it on free ports runs instead; `dir`: the
 * quickstart copied to (and run in) that directory. What the
 * demo shows, step by step; the command renders it.
 */
export async function runDemo(onEvent: EventSink, dir?: string) {
  const { configPath, taken } = await quickstartFile(dir);
  const quickstart = await runQuickstart(configPath);
  const { topology, plan } = await makePlan(quickstart.configPath);
  const applied = await applyPlan(topology, plan, { allowDestroy: false, parallel: 4, onEvent });
  if (applied.failed.length > 0) throw applied.failed[0]!.error;

  const sub = Object.values(topology.subscriptions)[0]!;
  const publisher = topology.nodes[sub.from]!;
  const subscriber = topology.nodes[sub.node]!;
  const note = `demo ${new Date().toISOString()}`;
  const t0 = Date.now();
  const row = await insertAndReadBack(publisher, subscriber, note);
  const replicated = { publisher: publisher.name, subscriber: subscriber.name, row, ms: Date.now() - t0 };
  const { plan: replan } = await makePlan(quickstart.configPath);
  return { quickstart, taken, plan, applied, replicated, replan };
}
