// docs/steep-yaml.md's reference section, generated from schemas/steep.schema.json: every key
// with its type, default, PostgreSQL version gate (`x-postgres`), description and examples.
// The prose above the section is written by hand and kept as it is.
//
//   node scripts/steep-yaml-docs.mjs           rewrite the section (npm run docs)
//   node scripts/steep-yaml-docs.mjs --check   exit 1 when the file is out of date (npm run lint)
//   … --check --warn                           only say so (npm run build)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = new URL('..', import.meta.url);
export const SCHEMA_PATH = new URL('schemas/steep.schema.json', ROOT);
export const DOC_PATH = new URL('docs/steep-yaml.md', ROOT);
export const BEGIN =
  '<!-- generated from schemas/steep.schema.json by scripts/steep-yaml-docs.mjs: edit the schema, then run `npm run docs` -->';
export const END = '<!-- end of the generated reference -->';
export const REGENERATE =
  'run `npm run docs` to regenerate it from schemas/steep.schema.json, and commit both';

/** The sections of the reference: a heading, where its keys live in the file, the schema object. */
function sections(schema) {
  const def = (name) => schema.definitions[name];
  const subscription = def('subscription');
  return [
    ['Top level', '', schema],
    ['`settings`', 'settings.', schema.properties.settings],
    ['`settings.verify`', 'settings.verify.', schema.properties.settings.properties.verify],
    ['`nodes.<name>`', 'nodes.<name>.', def('node')],
    ['`publications.<name>`', 'publications.<name>.', def('publication')],
    ['`publications.<name>.tables[]`', 'tables[].', def('table')],
    ['`subscriptions.<name>`', 'subscriptions.<name>.', subscription],
    ['`subscriptions.<name>.init`', 'init.', subscription.properties.init],
    ['`subscriptions.<name>.options`', 'options.', subscription.properties.options],
    ['`subscriptions.<name>.verify`', 'verify.', subscription.properties.verify],
    ['`links.<name>`', 'links.<name>.', def('link')],
    ['`links.<name>.init`', 'init.', def('link').properties.init],
  ];
}

const code = (v) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeOf(p, schema) {
  if (p.$ref) return p.$ref.endsWith('/identifier') ? 'identifier' : p.$ref.split('/').pop();
  if (p.const !== undefined) return code(p.const);
  if (p.enum) return p.enum.map(code).join(' | ');
  const types = [p.type].flat().filter((t) => t && t !== 'null');
  if (types.includes('array')) {
    const items = p.items ?? {};
    const of = items.$ref
      ? typeOf(items, schema)
      : items.enum
        ? items.enum.map(code).join(' | ')
        : items.oneOf
          ? items.oneOf.map((o) => (o.type === 'object' ? 'mapping' : o.type)).join(' or ')
          : (items.type ?? '');
    return `list of ${of}`;
  }
  if (types.length === 0 && p.properties) return 'object';
  return types.join(' or ');
}

function gate(p) {
  const g = p['x-postgres'];
  if (g === undefined) return '';
  if (typeof g === 'number') return `${g}+`;
  return Object.entries(g)
    .map(([value, v]) => `${code(value)}: ${v}+`)
    .join(', ');
}

function row(prefix, key, p, required, schema) {
  const examples = (p.examples ?? []).filter((e) => typeof e !== 'object' || e === null || Array.isArray(e));
  const description = [
    p.description ?? '',
    examples.length > 0 ? `Example: ${examples.map(code).join(', ')}.` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const def = p.default !== undefined ? code(p.default) : required ? 'required' : '';
  return `| \`${prefix}${key}\` | ${cell(typeOf(p, schema))} | ${cell(def)} | ${gate(p)} | ${cell(description)} |`;
}

/** The generated Markdown, from the markers to the end marker included. */
export function renderReference(schema) {
  const out = [BEGIN, '', '## Every key', ''];
  out.push(
    'Generated from the schema. **Default**: what steep uses when the key is left out ("required": it',
    'must be given). **PostgreSQL**: the oldest server version that accepts the key (or the value named);',
    'on an older node it is a validation error (offline when the node declares `serverVersion`, else',
    'at `plan`).',
    '',
  );
  for (const [title, prefix, object] of sections(schema)) {
    out.push(`### ${title}`, '');
    if (object.description) out.push(object.description, '');
    out.push('| key | type | default | PostgreSQL | description |', '|---|---|---|---|---|');
    const required = new Set(object.required ?? []);
    for (const [key, p] of Object.entries(object.properties ?? {}))
      out.push(row(prefix, key, p, required.has(key), schema));
    out.push('');
  }
  out.push(END);
  return out.join('\n');
}

/** The doc with its generated section replaced (or appended when it has none). */
export function withReference(doc, reference) {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) return `${doc.trimEnd()}\n\n${reference}\n`;
  return `${doc.slice(0, start)}${reference}${doc.slice(end + END.length)}`;
}

export function expectedDoc() {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));
  return withReference(readFileSync(DOC_PATH, 'utf8'), renderReference(schema));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const expected = expectedDoc();
  const current = readFileSync(DOC_PATH, 'utf8');
  if (process.argv.includes('--check')) {
    if (expected !== current) {
      console.error(`docs/steep-yaml.md is out of date with schemas/steep.schema.json: ${REGENERATE}`);
      if (!process.argv.includes('--warn')) process.exit(1);
    }
  } else if (expected !== current) {
    writeFileSync(DOC_PATH, expected);
    console.error('docs/steep-yaml.md: reference regenerated from schemas/steep.schema.json');
  }
}
