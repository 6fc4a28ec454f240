#!/usr/bin/env node
// Stands in for `gh` and `curl` in tests of examples/ci: records every call as one JSON line in
// $STUB_DIR/calls.jsonl, with the text of any file it was asked to post, and answers reads with
// $STUB_DIR/existing.json (what the forge already holds; default none). Never touches a network.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const dir = process.env.STUB_DIR;
const tool = basename(process.argv[1]);
const args = process.argv.slice(2);
let body = null;
args.forEach((a, i) => {
  const ref = /^(?:body|description)=?@(.+)$/.exec(a);
  if (ref) body = readFileSync(ref[1], 'utf8');
  if (a === '--body-file') body = readFileSync(args[i + 1], 'utf8');
});
const fields = args.filter((a) => /^(title|labels)=/.test(a));
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : 'GET');
const method =
  tool === 'gh' ? (args[0] === 'api' ? option('--method') : `${args[0]} ${args[1]}`) : option('-X');
const target = args.find((a) => a.startsWith('repos/') || a.startsWith('http')) ?? null;
appendFileSync(join(dir, 'calls.jsonl'), `${JSON.stringify({ tool, method, target, fields, body })}\n`);
const read = method === 'GET' || method === 'issue list';
if (read) {
  const existing = existsSync(join(dir, 'existing.json'))
    ? JSON.parse(readFileSync(join(dir, 'existing.json'), 'utf8'))
    : [];
  // `gh api --jq '.[]'` prints one object per line; the rest print the array
  process.stdout.write(
    args.includes('--jq') ? existing.map((x) => JSON.stringify(x)).join('\n') : JSON.stringify(existing),
  );
}
