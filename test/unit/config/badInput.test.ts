import { describe, expect, it } from 'vitest';
import { inRun, mask } from '../../../src/db/mask.js';
import { formatProblem } from '../../../src/model/errors.js';
import { BAD_INPUTS } from './badInputs.js';
import { at, BASE, check, envRef } from './support.js';

describe('steep.yaml: each bad input is one positioned problem', () => {
  it.each(BAD_INPUTS)('$name', ({ text, env, where, code, message, hint, consequences = 0 }) => {
    const { errors, topology } = check(text, env);
    expect(topology).toBeUndefined();
    const listed = errors.map((e) => `${at(e)} ${e.code}: ${e.message}`).join('\n');
    expect(errors.length, listed).toBe(1 + consequences);
    const [error] = errors;
    expect(at(error)).toBe(where);
    expect(error?.code).toBe(code);
    expect(error?.message).toMatch(message);
    if (hint !== undefined) expect(error?.hint).toBe(hint);
    expect(error?.position?.file).toBe('steep.yaml');
  });
});

describe('identifiers are counted in UTF-8 bytes', () => {
  it('accepts 63 bytes', () => {
    expect(check(BASE.replaceAll('orders_pub', 'p'.repeat(63))).errors).toEqual([]);
    // 31 two-byte characters and one ASCII: 63 bytes
    expect(
      check(BASE.replaceAll('west_orders', `${'é'.repeat(31)}a`).replace(/slot.*\n/, '')).errors,
    ).toEqual([expect.objectContaining({ code: 'bad-slot-name' })]);
  });

  it('accepts a 63-byte multibyte subscription name with an explicit slot', () => {
    const name = `${'é'.repeat(31)}a`;
    const text = BASE.replaceAll('west_orders', name).replace(
      '    publications: [orders_pub]',
      '    publications: [orders_pub]\n    slot: west_orders',
    );
    const { errors, topology } = check(text);
    expect(errors).toEqual([]);
    expect(topology?.subscriptions[name]?.slot).toBe('west_orders');
  });
});

describe('a literal password in a URL', () => {
  const secret = 'hunter2-Zq9';
  const text = BASE.replace('steep@east.internal', `steep:${secret}@east.internal`);

  it('is a warning, not an error, at the url', () => {
    const { topology, errors, warnings } = check(text);
    expect(errors).toEqual([]);
    expect(topology?.nodes.east?.connection.password).toBe(secret);
    expect(warnings).toHaveLength(1);
    expect(at(warnings[0])).toBe('5:10');
    expect(warnings[0]?.code).toBe('literal-password');
    expect(warnings[0]?.message).toBe('node `east`: `url` holds a literal password');
  });

  it('never shows the password, and registers it for masking', () => {
    inRun(() => {
      const { warnings } = check(text);
      const printed = warnings.map(formatProblem).join('\n');
      expect(printed).not.toContain(secret);
      expect(printed).toContain('warning: ');
      expect(mask(`connecting with ${secret}`)).toBe('connecting with ****');
    });
  });

  it('a percent-encoded password is masked in both forms', () => {
    inRun(() => {
      const { topology } = check(BASE.replace('steep@east.internal', 'steep:p%40ss%21@east.internal'));
      expect(topology?.nodes.east?.connection.password).toBe('p@ss!');
      expect(mask('p@ss! and p%40ss%21')).toBe('**** and ****');
    });
  });

  it('a literal password: field is a warning too; one from env:… is not', () => {
    inRun(() => {
      const literal = check(
        BASE.replace(
          '    url: postgres://steep@east',
          `    password: ${secret}\n    url: postgres://steep@east`,
        ),
      );
      expect(literal.errors).toEqual([]);
      expect(literal.warnings.map((w) => `${at(w)} ${w.message}`)).toEqual([
        '5:15 node `east`: `password` is written in the file',
      ]);
      expect(literal.warnings.map(formatProblem).join('\n')).not.toContain(secret);

      const fromEnv = check(
        BASE.replace(
          '    url: postgres://steep@east',
          `    password: ${envRef('EAST_PW')}\n    url: postgres://steep@east`,
        ),
        { EAST_PW: secret },
      );
      expect(fromEnv.errors).toEqual([]);
      expect(fromEnv.warnings).toEqual([]);
      expect(fromEnv.topology?.nodes.east?.connection.password).toBe(secret);
      expect(mask(secret)).toBe('****');
    });
  });

  it('a password from env:… inside the URL is not a warning', () => {
    const { errors, warnings, topology } = check(
      BASE.replace('steep@east.internal', `steep:${envRef('EAST_PW')}@east.internal`),
      { EAST_PW: 's3cr3t' },
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(topology?.nodes.east?.connection.password).toBe('s3cr3t');
  });
});

describe('every problem of a run is reported, in file order', () => {
  it('reports schema, reference and name problems together', () => {
    const text = BASE.replace('topology: orders-eu', 'topology: Orders EU')
      .replace('    node: east\n', '    node: north\n')
      .replace('    from: east', '    from: eats')
      .replace('publications: [orders_pub]', 'publications: [orders_pub, nope]');
    const { errors } = check(text);
    expect(errors.map((e) => `${at(e)} ${e.code}`)).toEqual([
      '2:11 invalid-value',
      '10:11 unknown-node',
      '15:11 unknown-node',
      '16:32 unknown-publication',
    ]);
  });

  it('an unset variable is reported once, not again as an invalid value', () => {
    const { errors } = check(BASE.replace('    from: east', `    from: ${envRef('PUBLISHER')}`));
    expect(errors.map((e) => e.code)).toEqual(['env-unset']);
  });
});
