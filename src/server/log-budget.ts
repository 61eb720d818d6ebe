import { levelOf, type LogEvent, type LogFn } from "./logger.js";
import { BucketRate, type Bucket } from "./token-bucket.js";

/** The budget when none is given: 20 lines at once, then one a second, reported every 10 s. */
export const LOG_BUDGET_DEFAULTS = { burst: 20, perSecond: 1, reportMs: 10_000 } as const;

export interface LogBudgetOptions {
  /** Lines of one event written at once before the budget holds them back. Default 20. */
  burst?: number;
  /** Lines of one event per second after the burst. Default 1. */
  perSecond?: number;
  /** How often, at most, a `log_suppressed` line says what was left out. Default 10 s. */
  reportMs?: number;
}

/**
 * A budget for the server's warnings and errors, each event on its own: at most `burst` lines
 * at once, then `perSecond`. The lines over it are counted, not written, and a `log_suppressed`
 * warning says, at most every `reportMs`, how many of which event were left out.
 *
 * Why: almost every warning and error is caused from outside, by something that can repeat it
 * as fast as it likes. Every send refused while the store is away logs `store_failed`, and a
 * client resends; every room's subscription retry logs `redis_failed` twice a second for as
 * long as Redis refuses; ten thousand connections lost at once log ten thousand
 * `liveness_dead`. Unbounded, the log is a way to fill the deployer's disk and to bury the
 * first line that said what went wrong. The first lines of each event still go out as they
 * are, and most of these events also have a metric that counts every one.
 *
 * Info and debug lines are not held back: they are the server's own milestones and a
 * connection's open and close, which the connection limits already bound. Buckets are kept
 * per event name, a fixed set (EVENT_LEVELS), never per room or per client.
 */
export class LogBudget {
  private readonly rate: BucketRate;
  private readonly reportMs: number;
  private readonly buckets = new Map<LogEvent, Bucket>();
  private readonly leftOut = new Map<LogEvent, number>();
  /** When the current count of left-out lines began. */
  private leftOutSince = 0;
  private reportTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly out: LogFn,
    options: LogBudgetOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.rate = new BucketRate(options.perSecond ?? LOG_BUDGET_DEFAULTS.perSecond, options.burst ?? LOG_BUDGET_DEFAULTS.burst);
    this.reportMs = options.reportMs ?? LOG_BUDGET_DEFAULTS.reportMs;
    if (!Number.isSafeInteger(this.reportMs) || this.reportMs < 1) throw new RangeError("logBudget.reportMs must be a positive integer");
  }

  /** The budgeted log: pass it where a LogFn is wanted. */
  readonly log: LogFn = (message, fields) => {
    const event = fields?.event;
    const level = levelOf(fields);
    if (event === undefined || event === "log_suppressed" || level === "info" || level === "debug") return this.out(message, fields);
    const now = this.now();
    const bucket = this.buckets.get(event) ?? null;
    if (this.rate.waitMs(bucket, now) === 0) {
      this.buckets.set(event, this.rate.take(bucket, now));
      return this.out(message, fields);
    }
    if (this.leftOut.size === 0) this.leftOutSince = now;
    this.leftOut.set(event, (this.leftOut.get(event) ?? 0) + 1);
    if (this.reportTimer === null) {
      this.reportTimer = setTimeout(() => this.report(), this.reportMs);
      this.reportTimer.unref();
    }
  };

  /** Writes the count of lines left out since the last report, if any (the timer does; so does a closing server). */
  report(): void {
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    if (this.leftOut.size === 0) return;
    const suppressed = Object.fromEntries(this.leftOut);
    const total = [...this.leftOut.values()].reduce((a, b) => a + b, 0);
    const ms = this.now() - this.leftOutSince;
    this.leftOut.clear();
    const which = Object.entries(suppressed).map(([event, n]) => `${n} ${event}`).join(", ");
    this.out(`log budget: left out ${total} line(s) in ${Math.round(ms / 1000)} s (${which})`, { event: "log_suppressed", suppressed, ms });
  }
}
