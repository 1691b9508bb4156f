/**
 * Delivery policy: how hard to try one message, and when a run should give up.
 * - Transient failures (4xx, connection trouble before the data phase) are
 *   retried with exponential backoff and full jitter, bounded both in count
 *   (SEND_RETRIES) and in total waiting time (SEND_RETRY_MAX_SECONDS).
 * - The circuit breaker pauses a run after ERROR_BUDGET failed deliveries:
 *   a server that fails everyone should not burn through the whole list.
 * - A subscriber whose digest failed permanently on BOUNCE_DAYS consecutive
 *   digest days is set to `status: bouncing`.
 */
export interface DeliveryPolicy {
  /** Retries after the first attempt for a transient failure. */
  retries: number;
  /** First backoff step; attempt n waits up to base × 2^(n−1). */
  retryBaseMs: number;
  /** Longest total wait for one message across its retries. */
  retryMaxTotalMs: number;
  /** Failed deliveries in one run before it pauses (0 = never). */
  errorBudget: number;
  /** Consecutive digest days with a permanent failure before `status: bouncing`. */
  bounceDays: number;
}

export const DEFAULT_POLICY: DeliveryPolicy = {
  retries: 3,
  retryBaseMs: 2_000,
  retryMaxTotalMs: 120_000,
  errorBudget: 20,
  bounceDays: 3,
};

/** Waits; resolves early when the signal aborts (shutdown), so a retry never holds up an exit. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

/**
 * Backoff before retry `attempt` (1 = the first retry): "full jitter", a
 * random wait in [0, base × 2^(attempt−1)], so many senders retrying at
 * once do not hit the server in step.
 */
export function backoffDelay(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = baseMs * 2 ** Math.max(0, attempt - 1);
  return Math.round(random() * ceiling);
}

/** Counts failed deliveries in one run and trips once the budget is spent. */
export class CircuitBreaker {
  private failures = 0;
  private last = '';
  constructor(private readonly budget: number) {}

  recordFailure(reason: string): void {
    this.failures++;
    this.last = reason;
  }

  /** Why the run must pause, or undefined while it may go on. */
  tripped(): string | undefined {
    if (this.budget <= 0 || this.failures < this.budget) return undefined;
    return `circuit breaker: ${this.failures} failed deliveries in this run (ERROR_BUDGET=${this.budget}); last error: ${this.last}`;
  }
}
