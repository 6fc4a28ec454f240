// Precompile the JSON Schema of steep.yaml into dist/config/steepSchema.validator.cjs after a
// build, so a command validates its file without importing ajv and compiling the schema at every
// start (a large part of validate's cost). The file records the schema's text: config/schema.ts uses it only while
// it matches schemas/steep.schema.json, and compiles at run time otherwise.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { build } from 'rolldown';
import { AJV_OPTIONS } from '../dist/config/schema.js';

const text = await readFile(new URL('../schemas/steep.schema.json', import.meta.url), 'utf8');
const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
const validate = ajv.compile(JSON.parse(text));
const code = (standalone.default ?? standalone)(ajv, validate);
// the two ajv runtime helpers the code requires (deep equality, string length) go inside it:
// found in node_modules, read and compiled at every start, they cost more than they hold
const source = new URL('../dist/config/steepSchema.validator.source.cjs', import.meta.url);
await writeFile(source, `${code}\nmodule.exports.schemaText = ${JSON.stringify(text)};\n`);
await build({
  input: fileURLToPath(source),
  platform: 'node',
  logLevel: 'warn',
  output: {
    file: fileURLToPath(new URL('../dist/config/steepSchema.validator.cjs', import.meta.url)),
    format: 'cjs',
  },
});
await rm(source);
