export { conninfoTarget, publisherOf } from './publisherOf.js';
export type { CatalogQuery } from './queries/catalogQuery.js';
export { type ClusterNodeInput, type ReadClusterOptions, readCluster } from './readCluster.js';
export {
  BEGIN_SNAPSHOT,
  DEFAULT_STATE_SCHEMA,
  type NodeProbe,
  probeQueries,
  type ReadNodeOptions,
  readNode,
  snapshotQueries,
} from './readNode.js';
export { normaliseRowFilters, type RowFilterResult } from './rowFilters.js';
