import { describe, expect, it } from 'vitest';
import { buildConninfo, maskConninfo, parseConninfo, sameConninfo } from '../../../src/model/conninfo.js';

describe('conninfo helpers', () => {
  it('parses keyword/value strings, quoted values and escapes', () => {
    expect(parseConninfo("host=a port = 5432 dbname='my db' password='it\\'s' sslmode=require")).toEqual({
      host: 'a',
      port: '5432',
      dbname: 'my db',
      password: "it's",
      sslmode: 'require',
    });
  });

  it('parses as libpq would what it accepts, and skips what it rejects', () => {
    expect(parseConninfo("a='b")).toEqual({ a: 'b' });
    expect(parseConninfo('a=b\\')).toEqual({ a: 'b\\' });
    expect(parseConninfo('x y=1 host=a port')).toEqual({ y: '1', host: 'a' });
    expect(parseConninfo('a=\\ b')).toEqual({ a: ' b' });
    expect(parseConninfo('=x a=b=c')).toEqual({ a: 'b=c' });
    expect(parseConninfo("a = 'x\\'y' b= c")).toEqual({ a: "x'y", b: 'c' });
    expect(parseConninfo('a=1 a=2')).toEqual({ a: '2' });
  });

  it('parses URIs', () => {
    expect(parseConninfo('postgresql://repl:p%40ss@10.0.0.1:6432/app?sslmode=verify-full')).toEqual({
      host: '10.0.0.1',
      port: '6432',
      dbname: 'app',
      user: 'repl',
      password: 'p@ss',
      sslmode: 'verify-full',
    });
  });

  it('round-trips what buildConninfo writes', () => {
    const spec = { host: 'h', port: 5432, database: 'd b', user: 'u', password: "x'y\\z" };
    expect(parseConninfo(buildConninfo(spec))).toEqual({
      host: 'h',
      port: '5432',
      dbname: 'd b',
      user: 'u',
      password: "x'y\\z",
    });
  });

  it("passes the publisher's TLS fields through as written: paths the subscriber's libpq reads", () => {
    const spec = {
      host: 'east.internal',
      port: 5432,
      database: 'app',
      user: 'repl',
      sslmode: 'verify-full',
      sslrootcert: '/etc/postgresql/east ca.pem',
      sslcert: '/etc/postgresql/repl.crt',
      sslkey: '/etc/postgresql/repl.key',
      sslcrl: '/etc/postgresql/root.crl',
    };
    expect(buildConninfo(spec)).toBe(
      "host=east.internal port=5432 dbname=app user=repl sslmode=verify-full sslrootcert='/etc/postgresql/east ca.pem' " +
        'sslcert=/etc/postgresql/repl.crt sslkey=/etc/postgresql/repl.key sslcrl=/etc/postgresql/root.crl',
    );
  });

  it('masks the password', () => {
    expect(maskConninfo("host=h password='se cret'")).toBe('host=h password=****');
    expect(maskConninfo('postgres://u:secret@h/db')).toBe('host=h dbname=db user=u password=****');
    expect(maskConninfo('host=h')).toBe('host=h');
  });

  it('compares by keyword and value, not by format or order', () => {
    expect(sameConninfo('host=h port=1 user=u', "user='u' host=h port=1")).toBe(true);
    expect(sameConninfo('host=h port=1', 'host=h port=1 password=x')).toBe(false);
    expect(sameConninfo('postgresql://u@h:1/d', 'host=h port=1 dbname=d user=u')).toBe(true);
  });
});
