import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { inRun, mask, maskDeep, registerSecret, registerSecretsIn } from '../../../src/db/mask.js';
import { quoteIdent, quoteLiteral } from '../../../src/model/sql.js';

describe('mask: the one masking function', () => {
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
    inRun(() => {
      registerSecret('abcd');
      registerSecret('abcdefg');
      expect(mask('x abcdefg y abcd z')).toBe('x **** y **** z');
      expect(maskDeep({ a: ['abcdefg'], b: { c: 'pre-abcd' } })).toEqual({
        a: ['****'],
        b: { c: 'pre-****' },
      });
    });
  });

  // found by fuzzing the CLI: a password `p` made `stee****.yaml`, `1` made `steep.yaml:****:****`,
  // ` ` broke the JSON of --json
  it('a secret is masked only where no letter, digit or _ touches it', () => {
    inRun(() => {
      registerSecret('hunter2');
      expect(mask('`hunter2` (hunter2) hunter2s xhunter2 hunter2_x')).toBe(
        '`****` (****) hunter2s xhunter2 hunter2_x',
      );
    });
  });

  it('secrets too short or without a letter or digit are not registered', () => {
    inRun(() => {
      for (const s of ['p', '1', '12', 'pw!', ' ', '::::', '----']) registerSecret(s);
      const printed = JSON.stringify(
        { file: 'steep.yaml:1:12', line: 12, hint: 'e.g. `version: 1`' },
        null,
        2,
      );
      expect(mask(printed)).toBe(printed);
      // as a password in a connection string it is still masked
      expect(mask('postgres://u:p@h/d host=h password=12')).toBe(
        'postgres://u:****@h/d host=h password=****',
      );
    });
  });

  it('masks a secret of any length', () => {
    inRun(() => {
      const long = 'x'.repeat(70_000);
      registerSecret(long);
      expect(mask(`password \`${long}\` is written in the file`)).toBe(
        'password `****` is written in the file',
      );
    });
  });

  it("registers the passwords of a command line's words, masked then in the pieces a parser cut them into", () => {
    inRun(() => {
      registerSecretsIn(['plan', 'postgres://app:Typed5ecret@db/app', "host=db password='Quoted 9' user=x"]);
      expect(mask('unexpected "postgres" "//app" "Typed5ecret@db/app"')).toBe(
        'unexpected "postgres" "//app" "****@db/app"',
      );
      expect(mask('unexpected "Quoted 9"')).toBe('unexpected "****"');
    });
  });

  it('a run masks with its own secrets: not those of another run, nor any outside a run', () => {
    inRun(() => {
      registerSecret('first-run-pw');
      inRun(() => {
        registerSecret('second-run-pw');
        expect(mask('first-run-pw second-run-pw')).toBe('first-run-pw ****');
      });
      expect(mask('first-run-pw second-run-pw')).toBe('**** second-run-pw');
    });
    registerSecret('no-run-pw');
    expect(mask('first-run-pw no-run-pw')).toBe('first-run-pw no-run-pw');
  });

  it('takes linear time on a long run of URL-scheme characters', () => {
    // 750,000 characters: tens of milliseconds in a linear scan; an unbounded scheme pattern
    // (`[a-z0-9+.-]*`) rescans from every position, minutes here, and the test's timeout catches it
    const text = `name \`${'ab.'.repeat(250_000)}\` is too long`;
    expect(mask(text)).toBe(text);
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
