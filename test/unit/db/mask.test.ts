import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, mask, maskDeep, registerSecret } from '../../../src/db/mask.js';
import { quoteIdent, quoteLiteral } from '../../../src/model/sql.js';

describe('mask: the one masking function', () => {
  afterEach(() => clearSecrets());

  it.each([
    ['postgres://steep:s3cret@east:5432/app', 'postgres://steep:****@east:5432/app'],
    ['postgresql://u:p%40ss@h/db?sslmode=require', 'postgresql://u:****@h/db?sslmode=require'],
    ['postgres://steep@east/app', 'postgres://steep@east/app'],
    ['host=east password=s3cret user=steep', 'host=east password=**** user=steep'],
    ["host=east password='it\\'s secret' user=steep", 'host=east password=**** user=steep'],
    ["CONNECTION 'host=h password=abc dbname=x'", "CONNECTION 'host=h password=**** dbname=x'"],
  ])('masks %s', (input, expected) => {
    expect(mask(input)).toBe(expected);
  });

  it('keeps JSON valid when a password ends a string value', () => {
    const json = JSON.stringify({ after: 'host=h user=u password=hunter2', next: 1 });
    const masked = mask(json);
    expect(JSON.parse(masked)).toEqual({ after: 'host=h user=u password=****', next: 1 });
  });

  it('masks registered secrets wherever they appear, longest first', () => {
    registerSecret('abc');
    registerSecret('abcdef');
    expect(mask('x abcdef y abc z')).toBe('x **** y **** z');
    expect(maskDeep({ a: ['abcdef'], b: { c: 'pre-abc' } })).toEqual({ a: ['****'], b: { c: 'pre-****' } });
  });
});

describe('SQL quoting matches node-postgres', () => {
  it.each([
    'plain',
    'Order Items',
    'with"quote',
    'semi;colon',
    "it's",
    'back\\slash',
    '$$',
    'ünïcødé',
    'new\nline',
  ])('%s', (s) => {
    expect(quoteIdent(s)).toBe(pg.Client.prototype.escapeIdentifier(s));
    expect(quoteLiteral(s)).toBe(pg.Client.prototype.escapeLiteral(s));
  });
});
