/**
 * Option validation shared by the store, the migrations and the relay.
 *
 * @since 0.1.0
 * @internal
 */
import { Millis } from "@herald/transport"
import type * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as OutboxError from "../OutboxError.ts"

/** The default outbox table. */
export const defaultTable = "herald_outbox"

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * A table name: an identifier, optionally qualified by a schema
 * (`schema.table`), each part at most 63 characters (PostgreSQL's limit),
 * not starting with `__ob_` (the prefix of the store's SQL aliases).
 */
export const validateTable = (table: string): Result.Result<ReadonlyArray<string>, OutboxError.OutboxError> => {
  const parts = table.split(".")
  if (parts[parts.length - 1]!.toLowerCase().startsWith("__ob_")) {
    return Result.fail(OutboxError.invalidConfig(`table ${JSON.stringify(table)}: names starting with __ob_ are reserved`))
  }
  if (parts.length > 2 || !parts.every((p) => identifier.test(p))) {
    return Result.fail(
      OutboxError.invalidConfig(
        `table ${JSON.stringify(table)} is not an identifier (letters, digits and _, not starting with a digit, at most 63 characters, optionally schema.table)`
      )
    )
  }
  return Result.succeed(parts)
}

/** A LISTEN/NOTIFY channel: one identifier. */
export const validateChannel = (channel: string): Result.Result<string, OutboxError.OutboxError> =>
  identifier.test(channel)
    ? Result.succeed(channel)
    : Result.fail(
      OutboxError.invalidConfig(`channel ${JSON.stringify(channel)} is not an identifier (at most 63 characters)`)
    )

/** A duration option in milliseconds: finite and at least `min`. */
export const millis = (
  name: string,
  input: Duration.Input | undefined,
  fallback: number,
  min = 0
): Result.Result<number, OutboxError.OutboxError> => {
  if (input === undefined) return Result.succeed(fallback)
  return Result.mapError(
    Millis.decode(input, { min }),
    (p) => OutboxError.invalidConfig(`${name} must be a finite duration of at least ${min} ms: ${p.message}`)
  )
}

/** An integer option in `[min, max]`. */
export const integer = (
  name: string,
  input: number | undefined,
  fallback: number,
  min: number,
  max: number
): Result.Result<number, OutboxError.OutboxError> => {
  const n = input ?? fallback
  if (!Number.isInteger(n) || n < min || n > max) {
    return Result.fail(OutboxError.invalidConfig(`${name} must be an integer from ${min} to ${max}, got ${n}`))
  }
  return Result.succeed(n)
}
