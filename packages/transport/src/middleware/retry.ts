/**
 * Retry middleware: tries a failing handler again, in process, while its
 * failure is retryable.
 *
 * A failure for which `TransportError.isRetryable` is `false` (a decode
 * error, a schema mismatch, a `HandlerFailed` marked non-retryable) is
 * returned at once: running the handler again would fail the same way. A
 * retryable failure (a timeout, a lost connection, an open circuit, or an
 * unknown failure) is retried as the schedule allows; when the schedule is
 * exhausted the last failure is returned, and the consumer runner decides
 * what to do with it (nak, or dead-letter on the last delivery).
 *
 * Delays come from the schedule and run on Effect's `Clock`, so `TestClock`
 * drives them in tests.
 *
 * ```ts
 * Middleware.retry(Schedule.recurs(3)) // up to 3 retries, at once
 * Middleware.retry({ times: 3, schedule: Schedule.exponential("100 millis") })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Handler from "../Handler.ts"
import * as TransportError from "../TransportError.ts"

/**
 * Options of `retry`: at most `times` retries (so `times + 1` calls), spaced
 * by `schedule` (default: at once). At least one of the two is required.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryOptions<SI, SE, SR> =
  | {
    /** Retries after the first call, at most. */
    readonly times: number
    /** Delays between retries; it may also stop earlier. */
    readonly schedule?: Schedule.Schedule<unknown, SI, SE, SR> | undefined
  }
  | {
    readonly times?: number | undefined
    readonly schedule: Schedule.Schedule<unknown, SI, SE, SR>
  }

/**
 * Retries the handler while its failure is retryable
 * (`TransportError.isRetryable`), as the schedule allows. Non-retryable
 * failures pass through at once. Defects and interruptions are not retried.
 *
 * The schedule receives each failure as its input; a failure of the schedule
 * itself (`SE`) fails the handler.
 *
 * @since 0.1.0
 * @category middleware
 */
export const retry: {
  <SI = unknown, SE = never, SR = never>(
    schedule: Schedule.Schedule<unknown, SI, SE, SR>
  ): <In, E extends SI, R>(handler: Handler.Handler<In, E, R>) => Handler.Handler<In, E | SE, R | SR>
  <SI = unknown, SE = never, SR = never>(
    options: RetryOptions<SI, SE, SR>
  ): <In, E extends SI, R>(handler: Handler.Handler<In, E, R>) => Handler.Handler<In, E | SE, R | SR>
} = (
  policy: Schedule.Schedule<unknown, unknown, unknown, unknown> | RetryOptions<unknown, unknown, unknown>
): any => {
  const options: Effect.Retry.Options<unknown> = Schedule.isSchedule(policy)
    ? { schedule: policy, while: TransportError.isRetryable }
    : { schedule: policy.schedule, times: policy.times, while: TransportError.isRetryable }
  return (handler: Handler.Handler<any, unknown, unknown>): Handler.Handler<any, unknown, unknown> => (input) =>
    Effect.retry(Effect.suspend(() => handler(input)), options)
}
