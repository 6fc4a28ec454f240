import { describe, expect, it } from 'vitest';
import { describeSessionLost, isSessionLost } from '../../../src/db/sessionLost.js';

/** PostgreSQL's error as node-postgres hands it over: a message and a SQLSTATE. */
function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: 'FATAL' });
}

describe('isSessionLost: the session broke under steep, or PostgreSQL reported an error over it', () => {
  it.each([
    ['the socket closed under a query', new Error('Connection terminated unexpectedly')],
    [
      'a query on a client whose idle session broke',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    [
      'fast shutdown, or pg_terminate_backend',
      pgError('57P01', 'terminating connection due to administrator command'),
    ],
    [
      'another backend crashed',
      pgError('57P02', 'terminating connection because of crash of another server process'),
    ],
    ['a reset socket', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a write to a closed socket', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
  ])('lost: %s', (_what, err) => {
    expect(isSessionLost(err)).toBe(true);
  });

  it.each([
    ['a lock timeout', pgError('55P03', 'canceling statement due to lock timeout')],
    [
      "a subscriber's own connection to its publisher",
      pgError('XX000', 'could not create replication slot "s": server closed the connection unexpectedly'),
    ],
    ['a client steep ended itself', new Error('Client was closed and is not queryable')],
    [
      'a refused connection (a connect error, reported as such)',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ],
    ['not an error', 'Connection terminated unexpectedly'],
    ['nothing', undefined],
  ])('not lost: %s', (_what, err) => {
    expect(isSessionLost(err)).toBe(false);
  });

  it('describes it naming the node, masked', () => {
    expect(
      describeSessionLost('east', new Error('Connection terminated unexpectedly password=hunter2')),
    ).toBe(
      "lost the connection to east (Connection terminated unexpectedly password=****): the server restarted or stopped, or ended steep's session",
    );
  });
});
