// Types of scripts/steep-yaml-docs.mjs, for the test that checks docs/steep-yaml.md.
export const SCHEMA_PATH: URL;
export const DOC_PATH: URL;
export const BEGIN: string;
export const END: string;
export const REGENERATE: string;
export function renderReference(schema: unknown): string;
export function withReference(doc: string, reference: string): string;
export function expectedDoc(): string;
