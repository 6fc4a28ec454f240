/**
 * Addresses (docs/steep-yaml.md): every object steep manages has one, used in plans, logs, `--target` and
 * errors — `node.east`, `publication.orders_pub`, `subscription.west_orders`, `link.eu_us`,
 * `slot.east/west_orders`, `table.west/public.orders`. An `Address` is a value; its printed
 * form is the contract of the JSON plan. Build with the functions below, read a printed one
 * back with `parseAddress`; nobody slices a string to get a name back.
 *
 * Names are printed as written (a subscription may be called `Sub "x"; DROP` or `a.b`): the
 * kind ends at the first `.`. A slot's node ends at the last `/` (slot names hold only
 * `[a-z0-9_]`); a table's node ends at the first `/` after which a table name as SQL prints it
 * follows (`public.t`, `"My/Schema"."t"`), so node names may hold `/` too.
 */
export type Address =
  | { kind: 'node'; node: string }
  | { kind: 'publication'; name: string }
  | { kind: 'subscription'; name: string }
  | { kind: 'link'; name: string }
  /** a replication slot `slot` on the publisher `node` */
  | { kind: 'slot'; node: string; slot: string }
  /** the table `table` (as SQL prints it: `public.orders`) on the subscriber `node` */
  | { kind: 'table'; node: string; table: string };

export function printAddress(a: Address): string {
  switch (a.kind) {
    case 'node':
      return `node.${a.node}`;
    case 'publication':
    case 'subscription':
    case 'link':
      return `${a.kind}.${a.name}`;
    case 'slot':
      return `slot.${a.node}/${a.slot}`;
    case 'table':
      return `table.${a.node}/${a.table}`;
  }
}

/** An address as output prints it (a message's may come printed already). */
export const addressText = (a: Address | string): string => (typeof a === 'string' ? a : printAddress(a));

export const publicationAddress = (name: string): string => printAddress({ kind: 'publication', name });
export const subscriptionAddress = (name: string): string => printAddress({ kind: 'subscription', name });
export const linkAddress = (name: string): string => printAddress({ kind: 'link', name });

/** One identifier as SQL prints it: bare, or in double quotes with `""` for a quote. */
const PRINTED_IDENT = '(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")*")';
/** `schema.table` as SQL prints it (`displayTable`). */
const PRINTED_TABLE = new RegExp(`^${PRINTED_IDENT}\\.${PRINTED_IDENT}$`, 's');

/** The address `text` prints, or undefined when it is not one. */
export function parseAddress(text: string): Address | undefined {
  const dot = text.indexOf('.');
  if (dot < 0) return undefined;
  const kind = text.slice(0, dot);
  const rest = text.slice(dot + 1);
  if (rest === '') return undefined;
  switch (kind) {
    case 'node':
      return { kind, node: rest };
    case 'publication':
    case 'subscription':
    case 'link':
      return { kind, name: rest };
    case 'slot': {
      const slash = rest.lastIndexOf('/');
      if (slash <= 0 || slash === rest.length - 1) return undefined;
      return { kind, node: rest.slice(0, slash), slot: rest.slice(slash + 1) };
    }
    case 'table': {
      for (let slash = rest.indexOf('/', 1); slash > 0; slash = rest.indexOf('/', slash + 1)) {
        const table = rest.slice(slash + 1);
        if (PRINTED_TABLE.test(table)) return { kind, node: rest.slice(0, slash), table };
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The subscription's name when `a` is a subscription's address. */
export const subscriptionNameOf = (a: Address | undefined): string | undefined =>
  a?.kind === 'subscription' ? a.name : undefined;
