/**
 * Where each projection is: the checkpoint store contract.
 *
 * A checkpoint is the last stream sequence a projection has passed (applied,
 * skipped by its filter, or a hole in the stream), with the stream it
 * belongs to and whether a rebuild is in progress. `commit` moves it and
 * runs the projection's effect for the same messages:
 *
 * | store | module | guarantee |
 * |---|---|---|
 * | SQL (PostgreSQL, SQLite) | `CheckpointSql` | `atomic`: the effect's SQL (through the same `SqlClient`) and the checkpoint commit in one transaction, so either both happen or neither |
 * | in memory | `CheckpointMemory` | `afterSuccess`: the checkpoint moves once the effect has succeeded, uninterruptibly; the runner commits after every message |
 *
 * Every commit names the position it expects to move from: a checkpoint
 * that moved in between (another runner of the same projection) fails the
 * commit with a `StoreError` and, on SQL, rolls the effect back.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as ReplayError from "./ReplayError.ts"

/**
 * A projection's stored checkpoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface Checkpoint {
  readonly projection: string
  readonly stream: string
  /** The last sequence passed (0: none). */
  readonly position: number
  /** A rebuild is in progress: set with the reset, cleared when the rebuild reaches the head. */
  readonly rebuilding: boolean
  /** When it last moved (Unix epoch milliseconds). */
  readonly updatedAt: number
}

/**
 * One move of a checkpoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface Advance {
  readonly projection: string
  readonly stream: string
  /** The position it is expected to have now (0 when it is not stored yet). */
  readonly from: number
  /** The position it moves to (lower than `from` for a rebuild). */
  readonly to: number
  readonly rebuilding: boolean
}

/**
 * How a store ties the checkpoint to the projection's writes.
 *
 * - `atomic`: one transaction holds the effect and the checkpoint.
 * - `afterSuccess`: the checkpoint is written after the effect succeeded,
 *   in this process only.
 *
 * @since 0.1.0
 * @category models
 */
export type Guarantee = "atomic" | "afterSuccess"

/**
 * The checkpoint store.
 *
 * @since 0.1.0
 * @category services
 */
export class CheckpointStore extends Context.Service<CheckpointStore, {
  /** `"sql:pg"`, `"sql:sqlite"` or `"memory"`. */
  readonly kind: string
  readonly guarantee: Guarantee
  /** The checkpoint of a projection, if it is stored. */
  readonly get: (projection: string) => Effect.Effect<Option.Option<Checkpoint>, ReplayError.ReplayError>
  /** Every stored checkpoint, by projection name. */
  readonly list: Effect.Effect<ReadonlyArray<Checkpoint>, ReplayError.ReplayError>
  /**
   * Runs `effect` and moves the checkpoint from `advance.from` to
   * `advance.to`, as the store's guarantee says. A failure of `effect` is
   * returned as is and leaves the checkpoint where it was; a checkpoint that
   * is not at `advance.from` (or belongs to another stream) fails with a
   * `StoreError` and runs nothing (SQL: rolls back).
   */
  readonly commit: <A, E, R>(
    advance: Advance,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | ReplayError.ReplayError, R>
  /** Forgets a projection's checkpoint; `true` when there was one. */
  readonly remove: (projection: string) => Effect.Effect<boolean, ReplayError.ReplayError>
}>()("@herald/replay/CheckpointStore") {}

/**
 * The `StoreError` of a commit whose checkpoint is not where it expected:
 * another runner of the same projection moved it, or it belongs to another
 * stream.
 *
 * @since 0.1.0
 * @category errors
 */
export const moved = (advance: Advance, found: Option.Option<Checkpoint>): ReplayError.ReplayError =>
  ReplayError.make(
    new ReplayError.StoreError({
      operation: `commit the checkpoint of ${advance.projection}`,
      detail: found._tag === "None"
        ? `expected it at ${advance.from} on ${advance.stream}, found none (removed while running)`
        : `expected it at ${advance.from} on ${advance.stream}, found ${found.value.position} on ${found.value.stream} (another runner of the same projection, or a rebuild)`,
      retryable: false
    })
  )
