// Precompile the JSON Schema of steep.yaml into dist/config/steepSchema.validator.cjs after a
// build, so a command validates its file without importing ajv and compiling the schema at every
// start (about 0.1 s). The file records the schema's text: config/schema.ts uses it only while
// it matches schemas/steep.schema.json, and compiles at run time otherwise.
import { readFile, writeFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { AJV_OPTIONS } from '../dist/config/schema.js';

const text = await readFile(new URL('../schemas/steep.schema.json', import.meta.url), 'utf8');
const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
const validate = ajv.compile(JSON.parse(text));
const code = (standalone.default ?? standalone)(ajv, validate);
await writeFile(
  new URL('../dist/config/steepSchema.validator.cjs', import.meta.url),
  `${code}\nmodule.exports.schemaText = ${JSON.stringify(text)};\n`,
);
