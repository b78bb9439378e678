/**
 * Reading the command line's values: sequences, times, limits. Each refusal
 * is an `InvalidInput` whose message names the value and what was expected.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as CommandError from "./CommandError.ts"

const quote = (text: string): string => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)

/**
 * A stream sequence: a positive integer written in decimal digits.
 *
 * @since 0.1.0
 * @category parsing
 */
export const sequence = (text: string): Effect.Effect<number, CommandError.CommandError> => {
  const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN
  return Number.isSafeInteger(n) && n > 0
    ? Effect.succeed(n)
    : Effect.fail(CommandError.invalid(`malformed sequence ${quote(text)}: expected a positive integer`))
}

/**
 * A limit (or a count, named by `name`): a positive integer.
 *
 * @since 0.1.0
 * @category parsing
 */
export const limit = (n: number, name = "limit"): Effect.Effect<number, CommandError.CommandError> =>
  Number.isSafeInteger(n) && n > 0
    ? Effect.succeed(n)
    : Effect.fail(CommandError.invalid(`malformed ${name} ${n}: expected a positive integer`))

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A point in time, as Unix epoch milliseconds: an ISO-8601 time
 * (`2026-12-06T05:00:00Z`, `2026-12-06`), or a time before `now` written as
 * a number and a unit (`90s`, `15m`, `2h`, `7d`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const since = (text: string, now: number): Effect.Effect<number, CommandError.CommandError> => {
  const relative = /^([0-9]+)([smhd])$/.exec(text)
  if (relative !== null) return Effect.succeed(now - Number(relative[1]) * units[relative[2]!]!)
  const at = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text) ? Date.parse(text) : Number.NaN
  return Number.isFinite(at)
    ? Effect.succeed(at)
    : Effect.fail(
      CommandError.invalid(`malformed time ${quote(text)}: expected an ISO-8601 time or an age such as 90s, 15m, 2h, 7d`)
    )
}
