/**
 * Durations as whole milliseconds: the one conversion every Herald package
 * applies to its `Duration.Input` options (timeouts, delays, ack waits, ages).
 *
 * An input becomes a finite, non-negative, whole number of milliseconds:
 *
 * - a fraction of a millisecond rounds up, so a positive duration never
 *   becomes 0 ms (`"1500 micros"` is 2 ms, `"1 nano"` is 1 ms);
 * - an infinite duration, a negative one, `NaN`, or a value that is not a
 *   duration at all, is refused with a {@link Problem} ({@link decode}) or
 *   replaced by the caller's fallback ({@link orElse});
 * - a minimum (`min`) refuses what is smaller after rounding; a timeout
 *   usually needs at least 1 ms, a delay may be 0.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Result from "effect/Result"

/**
 * Why an input is not a number of milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Problem {
  readonly _tag: "NotADuration" | "Infinite" | "Negative" | "BelowMinimum"
  /** One line naming what was wrong, for the caller's error message. */
  readonly message: string
}

/**
 * Options of {@link decode} and {@link orElse}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The smallest accepted number of milliseconds, after rounding up (default 0). */
  readonly min?: number | undefined
}

const problem = (_tag: Problem["_tag"], message: string): Result.Result<number, Problem> =>
  Result.fail({ _tag, message })

// What a refused input looks like in a message: short, whatever its type.
const show = (input: unknown): string => {
  if (Duration.isDuration(input)) return Duration.format(input)
  if (typeof input === "string") return JSON.stringify(input.length > 64 ? `${input.slice(0, 64)}…` : input)
  if (typeof input === "number" || typeof input === "bigint") return String(input)
  if (input === null) return "null"
  if (Array.isArray(input)) return "an array"
  return `a value of type ${typeof input}`
}

/**
 * Converts a duration to whole milliseconds, or says why it cannot.
 *
 * @example
 * ```ts
 * import { Millis } from "@herald/transport"
 *
 * Millis.decode("1500 micros") // Result.succeed(2)
 * Millis.decode("Infinity") // Result.fail({ _tag: "Infinite", ... })
 * Millis.decode(0, { min: 1 }) // Result.fail({ _tag: "BelowMinimum", ... })
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const decode = (input: Duration.Input, options?: Options): Result.Result<number, Problem> => {
  if (typeof input === "number" && Number.isNaN(input)) return problem("NotADuration", "NaN is not a duration")
  const parsed = Duration.fromInput(input)
  if (Option.isNone(parsed)) return problem("NotADuration", `${show(input)} is not a duration`)
  const duration = parsed.value
  if (!Duration.isFinite(duration)) return problem("Infinite", `${show(input)} is not finite`)
  if (Duration.isNegative(duration)) return problem("Negative", `${show(input)} is negative`)
  const ms = Math.ceil(Duration.toMillis(duration))
  const min = options?.min ?? 0
  return ms < min ? problem("BelowMinimum", `${show(input)} is less than ${min} ms`) : Result.succeed(ms)
}

/**
 * Converts an optional duration to whole milliseconds; `fallback` when it is
 * absent or {@link decode} refuses it.
 *
 * @since 0.1.0
 * @category conversions
 */
export const orElse = (input: Duration.Input | undefined, fallback: number, options?: Options): number => {
  if (input === undefined) return fallback
  const ms = decode(input, options)
  return Result.isSuccess(ms) ? ms.success : fallback
}
