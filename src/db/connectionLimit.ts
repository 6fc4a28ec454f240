/** settings.maxConnections when nothing else is given. */
export const DEFAULT_MAX_CONNECTIONS = 16;

let sessionBound = DEFAULT_MAX_CONNECTIONS;

/**
 * The loaded steep.yaml's settings.maxConnections (config/load.ts): the most sessions this
 * process keeps open at once, those kept for the next connect included (db/connect.ts).
 */
export function boundSessions(max: number): void {
  sessionBound = max;
}

/** The bound `boundSessions` set last, else the default. */
export function sessionsBound(): number {
  return sessionBound;
}

/**
 * Runs tasks that each hold one connection, at most `max` at a time, in the order they were
 * given: with 100 nodes and `max` 16, 16 reads run and each that ends starts the next.
 */
export function connectionLimit(max: number = DEFAULT_MAX_CONNECTIONS) {
  if (!Number.isInteger(max) || max < 1)
    throw new RangeError(`connectionLimit: ${max} is not a positive integer`);
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    running--;
    const next = waiting.shift();
    if (next) {
      running++;
      next();
    }
  };
  return async function limited<T>(task: () => Promise<T>): Promise<T> {
    if (running < max) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      release();
    }
  };
}
