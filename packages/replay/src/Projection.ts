/**
 * A projection: a named read model built by applying a stream's messages
 * in sequence order, with an optional hook that clears it for a rebuild.
 *
 * ```ts
 * const orderTotals = Projection.make({
 *   name: "order-totals",
 *   filter: "orders.>",
 *   handle: (message) =>
 *     Effect.flatMap(SqlClient.SqlClient.asEffect(), (sql) =>
 *       sql`INSERT INTO order_totals ${sql.insert({ sequence: message.sequence, type: message.envelope.type })}`),
 *   reset: Effect.flatMap(SqlClient.SqlClient.asEffect(), (sql) => sql`DELETE FROM order_totals`)
 * })
 * ```
 *
 * A projection does nothing by itself: `ProjectionRunner.run` applies it
 * from its checkpoint, `ProjectionRunner.rebuild` resets it and applies it
 * from the start. On a SQL checkpoint store the handler's writes through the
 * same `SqlClient` commit in the same transaction as the checkpoint, so a
 * message is applied exactly once without the handler being idempotent.
 *
 * @since 0.1.0
 */
import { SubjectPattern } from "@herald/subject"
import type { EventLog } from "@herald/transport"
import * as Effect from "effect/Effect"

/**
 * A projection, as `make` builds it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Projection<E = never, R = never> {
  /** Its key in the checkpoint store. */
  readonly name: string
  /** Applies one message. A failure rolls back its batch (on SQL) and stops the runner. */
  readonly handle: (message: EventLog.StoredMessage) => Effect.Effect<void, E, R>
  /** Clears the projection's own data before a rebuild (default: nothing). */
  readonly reset: Effect.Effect<void, E, R>
  /** Only messages whose subject matches this pattern reach `handle`; the checkpoint moves past the others. */
  readonly filter: string | undefined
  /** What is wrong with the definition; the runner refuses to run it with `InvalidConfig` when not empty. */
  readonly problems: ReadonlyArray<string>
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions<E, R> {
  /** 1 to 128 letters, digits or `_-.:`. */
  readonly name: string
  readonly handle: (message: EventLog.StoredMessage) => Effect.Effect<void, E, R>
  readonly reset?: Effect.Effect<void, E, R> | undefined
  /** A subject pattern (`orders.>`). */
  readonly filter?: string | undefined
}

const projectionName = /^[A-Za-z0-9_\-.:]{1,128}$/

/**
 * Checks a projection name: 1 to 128 letters, digits or `_-.:`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isName = (u: unknown): u is string => typeof u === "string" && projectionName.test(u)

/**
 * Defines a projection. The definition is checked here and its problems kept
 * in `problems`: the runner refuses a projection with problems with
 * `InvalidConfig` before it reads or writes anything.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = never, R = never>(options: MakeOptions<E, R>): Projection<E, R> => {
  const problems: Array<string> = []
  if (!isName(options.name)) {
    problems.push(`a projection's name must be 1 to 128 letters, digits or "_-.:", got ${JSON.stringify(options.name)}`)
  }
  if (typeof options.handle !== "function") problems.push("handle must be a function")
  if (options.filter !== undefined && !SubjectPattern.isSubjectPattern(options.filter)) {
    problems.push(`filter ${JSON.stringify(options.filter)} is not a subject pattern`)
  }
  return {
    name: options.name,
    handle: options.handle,
    reset: options.reset ?? Effect.void,
    filter: options.filter,
    problems
  }
}
