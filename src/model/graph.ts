/**
 * The topology as a graph (`steep graph`, `plan --graph`): nodes, the publications on them, and
 * one edge per subscription from each publication it receives to its subscriber. Two
 * subscriptions that replicate between the same two nodes in opposite directions form a link,
 * drawn both ways. With the live catalog: each subscription's state, and the objects steep.yaml
 * does not declare (unmanaged, drawn dashed); with a plan: what it changes.
 */
import type { Action } from './plan.js';
import type { PublicationDef, SubscriptionDef } from './topology.js';

export type GraphChange = Exclude<Action, 'init' | 'sync-schema'>;

export interface GraphNode {
  name: string;
  /** server_version_num when read (live or from the plan's reading), else null */
  serverVersion: number | null;
  /** false when the live catalog could not be read */
  reachable: boolean;
}

export interface GraphPublication extends Pick<PublicationDef, 'name' | 'node'> {
  /** `public.orders`, `schema sales`, `all tables` */
  contents: string[];
  /** not declared in steep.yaml (live only) */
  unmanaged: boolean;
  change: GraphChange | null;
}

export interface GraphSubscription extends Pick<SubscriptionDef, 'name' | 'node' | 'publications'> {
  /** the publisher; '' when the live catalog cannot tell which node it is */
  from: string;
  /** the init method declared in steep.yaml; null for an unmanaged subscription */
  init: string | null;
  /** the subscription's state (live only): an init state, or `absent` */
  state: string | null;
  enabled: boolean | null;
  unmanaged: boolean;
  change: GraphChange | null;
  /** the name of the two-way pair it belongs to (`east<->west`), or null */
  link: string | null;
}

export interface GraphLink {
  name: string;
  nodes: [string, string];
  subscriptions: [string, string];
}

export interface TopologyGraph {
  topology: string;
  nodes: GraphNode[];
  publications: GraphPublication[];
  subscriptions: GraphSubscription[];
  links: GraphLink[];
}
