import { BASE, envRef } from './support.js';

/**
 * The bad inputs of issue 2, each with the exact position and the words a DBA needs.
 * `text` is the whole file; `where` is line:column of the one expected error.
 */
export interface BadInput {
  name: string;
  text: string;
  env?: NodeJS.ProcessEnv;
  where: string;
  code: string;
  message: RegExp;
  /** the problem's hint, when the case checks it */
  hint?: string;
  /** further problems that follow from the first (default: none) */
  consequences?: number;
}

export const BAD_INPUTS: BadInput[] = [
  {
    name: 'malformed YAML (unclosed flow mapping)',
    text: 'version: 1\ntopology: t\nnodes: {east: {url: x}\n',
    where: '4:1',
    code: 'yaml-syntax',
    message: /^invalid YAML: a `\{` is not closed with `\}`/,
  },
  {
    name: 'malformed YAML (unclosed quote)',
    text: 'version: 1\ntopology: "orders-eu\nnodes: {}\n',
    where: '4:1',
    code: 'yaml-syntax',
    message: /^invalid YAML: missing closing "quote/,
  },
  {
    name: 'a key indented less than the keys beside it',
    text: 'version: 1\ntopology: t\nnodes:\n  east:\n    url: postgres://h/app\n west:\n    url: postgres://w/app\n',
    where: '6:2',
    code: 'yaml-syntax',
    message:
      /^bad indentation: `west` starts at column 2, not at the column of the keys above it: `east` \(line 4\) at column 3, `nodes` \(line 3\) at column 1$/,
    hint: 'move it to column 3 beside `east` or to column 1 beside `nodes`',
  },
  {
    name: 'a key indented further than the key above it, which has a value',
    text: 'version: 1\ntopology: t\nnodes:\n  east:\n    url: postgres://h/app\n      port: 5433\n',
    where: '6:7',
    code: 'yaml-syntax',
    message:
      /^bad indentation: line 6 is indented further than `url` on line 5, so YAML reads it as part of `url`'s value$/,
    hint: 'start it at column 5, as `url`',
  },
  {
    name: 'a tab-indented file',
    text: 'version: 1\ntopology: t\nnodes:\n\teast:\n',
    where: '4:1',
    code: 'tab-indent',
    message: /^a tab is used for indentation; YAML allows only spaces$/,
  },
  {
    name: 'an empty file',
    text: '',
    where: '1:1',
    code: 'empty-file',
    message: /^the file is empty$/,
  },
  {
    name: 'a file of comments only',
    text: '# steep.yaml\n\n',
    where: '1:1',
    code: 'empty-file',
    message: /^the file is empty$/,
  },
  {
    name: 'a document that is a list',
    text: '- east\n- west\n',
    where: '1:1',
    code: 'not-a-mapping',
    message: /^the file must be a mapping of keys .*, not a list$/,
  },
  {
    name: 'a key of the wrong type',
    text: BASE.replace('    node: west\n', '    node: west\n    enabled: sometimes\n'),
    where: '15:14',
    code: 'wrong-type',
    message: /^subscription `west_orders`: `enabled` must be true or false$/,
  },
  {
    name: 'a list where a mapping belongs',
    text: BASE.replace(
      '  east:\n    url: postgres://steep@east.internal:5432/app\n',
      '  east: [east.internal]\n',
    ),
    where: '4:9',
    code: 'wrong-type',
    message: /^`east` must be a mapping of keys$/,
  },
  {
    name: 'an unknown key, with the nearest known one suggested',
    text: BASE.replace('publications:\n  orders_pub', 'publication:\n  orders_pub'),
    where: '8:1',
    code: 'unknown-key',
    message: /^unknown key `publication`; did you mean `publications`\?$/,
    // west_orders' publication is then not declared
    consequences: 1,
  },
  {
    name: 'an unknown key inside a subscription',
    text: BASE.replace('    publications: [orders_pub]', '    publications: [orders_pub]\n    slott: west'),
    where: '17:5',
    code: 'unknown-key',
    message: /^subscription `west_orders`: unknown key `slott`; did you mean `slot`\?$/,
  },
  {
    name: 'a missing required key',
    text: BASE.replace('    from: east\n', ''),
    where: '13:3',
    code: 'missing-key',
    message: /^subscription `west_orders` is missing required key `from`$/,
  },
  {
    name: 'a missing top-level key',
    text: BASE.replace('topology: orders-eu\n', ''),
    where: '1:1',
    code: 'missing-key',
    message: /^missing required key `topology`$/,
  },
  {
    name: 'env:X with X unset',
    text: BASE.replace('url: postgres://steep@west.internal:5432/app', `url: ${envRef('WEST_URL')}`),
    where: '7:10',
    code: 'env-unset',
    message: /^node `west`: environment variable `WEST_URL` is not set$/,
  },
  {
    name: 'env:X unset inside a longer value points at the reference',
    text: BASE.replace('postgres://steep@west.internal', `postgres://steep@${envRef('WEST_HOST')}`),
    where: '7:27',
    code: 'env-unset',
    message: /environment variable `WEST_HOST` is not set/,
  },
  {
    name: 'a subscription whose from node does not exist',
    text: BASE.replace('    from: east', '    from: eats'),
    where: '15:11',
    code: 'unknown-node',
    message: /^subscription `west_orders`: node `eats` is not declared in `nodes`; did you mean `east`\?$/,
  },
  {
    name: 'a publication on one node listed by a subscription from another',
    text: BASE.replace(
      'subscriptions:\n',
      '  west_pub:\n    node: west\n    tables: [public.orders]\nsubscriptions:\n',
    ).replace('publications: [orders_pub]', 'publications: [orders_pub, west_pub]'),
    where: '19:32',
    code: 'publication-on-other-node',
    message:
      /^subscription `west_orders`: publication `west_pub` lives on node `west`, not on `east` \(the `from` node\)$/,
  },
  {
    name: 'two objects with one name (duplicate YAML key)',
    text: `${BASE}  west_orders:\n    node: east\n    from: west\n    publications: [orders_pub]\n`,
    where: '17:3',
    code: 'duplicate-key',
    message: /^subscription `west_orders` is declared twice \(first at line 13, column 3\)$/,
  },
  {
    name: 'a 64-byte identifier',
    text: BASE.replaceAll('orders_pub', 'p'.repeat(64)),
    where: '9:3',
    code: 'bad-identifier',
    message: /^publication name `p{64}` is 64 bytes long; PostgreSQL identifiers are at most 63 bytes$/,
  },
  {
    name: 'a 32-character identifier of 64 UTF-8 bytes',
    text: BASE.replaceAll('orders_pub', 'é'.repeat(32)),
    where: '9:3',
    code: 'bad-identifier',
    message: /^publication name `é{32}` is 64 bytes long/,
  },
  {
    name: 'a table name with three dots',
    text: BASE.replace('tables: [public.orders]', 'tables: [db.public.orders.x]'),
    where: '11:14',
    code: 'bad-table-name',
    message:
      /^publication `orders_pub`: table name `db.public.orders.x` has 3 dots; a table name is `schema.table` or `table`$/,
  },
  {
    name: 'a table name with two dots',
    text: BASE.replace('tables: [public.orders]', 'tables: [db.public.orders]'),
    where: '11:14',
    code: 'bad-table-name',
    message: /has 2 dots/,
  },
];
