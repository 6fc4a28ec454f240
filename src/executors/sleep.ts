/**
 * Resolves after `ms`, or at once when `signal` is aborted. The abort listener goes when the
 * timer fires: a poll loop sleeping on one signal would otherwise pile up listeners, and past
 * ten Node.js prints a MaxListenersExceededWarning on the user's stderr.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
