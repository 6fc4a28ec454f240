import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Alias, Document, LineCounter, Node, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';

/**
 * The `yaml` package, loaded at first use: loading it is a large part of a command's start, and a
 * plain steep.yaml (plainYaml.ts) needs it only when a problem needs a position.
 */
let loaded: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  loaded ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return loaded;
}

export const isAlias = (n: unknown): n is Alias => yaml().isAlias(n);
export const isMap = (n: unknown): n is YAMLMap => yaml().isMap(n);
export const isNode = (n: unknown): n is Node => yaml().isNode(n);
export const isPair = (n: unknown): n is Pair => yaml().isPair(n);
export const isScalar = (n: unknown): n is Scalar => yaml().isScalar(n);
export const isSeq = (n: unknown): n is YAMLSeq => yaml().isSeq(n);

export function newLineCounter(): LineCounter {
  return new (yaml().LineCounter)();
}

export function parseDocument(
  text: string,
  options: Yaml.ParseOptions & Yaml.DocumentOptions & Yaml.SchemaOptions,
): Document {
  return yaml().parseDocument(text, options) as Document;
}
