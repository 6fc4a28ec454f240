export * from './cluster.js';
export * from './conninfo.js';
export * from './errors.js';
export * from './ownership.js';
export * from './plan.js';
export * from './sql.js';
export * from './topology.js';
