// Types of scripts/build-stamp.mjs, for its tests.
export const BUILD_INPUTS: string[];
export const BUILD_OUTPUTS: string[];
export const STAMP: string;
export function buildStamp(root: string): string;
export function isBuilt(root: string): boolean;
