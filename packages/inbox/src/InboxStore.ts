/**
 * Where the inbox remembers which consumer processed which message.
 *
 * A store guards an effect with a record keyed by (consumer, message id):
 * `run` applies the effect unless the record exists, and records it. How
 * strongly the record and the effect are tied depends on the store:
 *
 * | store | module | record and effect |
 * |---|---|---|
 * | SQL (PostgreSQL, SQLite) | `InboxSql` | atomic: one transaction holds both, so either both happen or neither |
 * | in memory | `InboxMemory` | recorded after the effect succeeded, in this process only (tests, handlers without a database) |
 * | NATS KV | `@herald/inbox/kv` (`InboxKv`) | not atomic: see its guarantees |
 *
 * Applications use the store through `Inbox` (the middleware and the query
 * functions); the service is here for those that need another store.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as InboxError from "./InboxError.ts"

/**
 * What is recorded about a message when its effect is applied.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  /** Whose record this is: the consumer's name (by default the durable consumer's). */
  readonly consumer: string
  /** The message id (`envelope.identity.messageId`). */
  readonly messageId: string
  readonly stream: string
  readonly streamSequence: number
  readonly subject: string
  /** The message type (`envelope.type`). */
  readonly type: string
  /** The delivery that applied it (1 on the first delivery). */
  readonly deliveryCount: number
}

/**
 * A message a consumer processed, and when.
 *
 * @since 0.1.0
 * @category models
 */
export interface InboxRecord extends Entry {
  /** When the effect was applied (Unix epoch milliseconds, from Effect's `Clock`). */
  readonly processedAt: number
}

/**
 * What `run` did: applied the effect and recorded it, or found the record and
 * skipped the effect.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "processed" | "duplicate"

/**
 * A filter over records. Records come in `processedAt` order (then consumer,
 * then message id).
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  readonly consumer?: string | undefined
  readonly stream?: string | undefined
  readonly type?: string | undefined
  /** Processed at or after this time (Unix epoch milliseconds). */
  readonly since?: number | undefined
  /** Processed before this time (Unix epoch milliseconds). */
  readonly until?: number | undefined
  /** At most this many records (default 100). */
  readonly limit?: number | undefined
}

/**
 * How strongly a store ties its record to the guarded effect.
 *
 * - `atomic`: the record and the effect commit together (SQL).
 * - `markAfterSuccess`: the effect first, then the record: a crash in
 *   between applies the effect again on redelivery; nothing is lost.
 * - `markBeforeHandler`: the record first, then the effect (the record is
 *   removed if the effect fails): a crash in between loses the effect;
 *   nothing is applied twice.
 *
 * @since 0.1.0
 * @category models
 */
export type Guarantee = "atomic" | "markAfterSuccess" | "markBeforeHandler"

/**
 * One delivery of a batch (`runBatch`): its entry, the effect to apply, and
 * the context the effect runs in (the caller's: the store adds its
 * transaction to it).
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchItem<E, R> {
  readonly entry: Entry
  readonly effect: Effect.Effect<void, E, R>
  readonly context: Context.Context<R>
}

/**
 * The default `limit` of a query.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLimit = 100

/**
 * A store.
 *
 * @since 0.1.0
 * @category services
 */
export class InboxStore extends Context.Service<InboxStore, {
  /** `"sql:pg"`, `"sql:sqlite"`, `"memory"` or `"kv"`. */
  readonly kind: string
  readonly guarantee: Guarantee
  /**
   * Applies `effect` unless `entry`'s (consumer, message id) is recorded,
   * and records it. A failure of `effect` leaves no record and is returned
   * as is; a failure of the store is an `InboxError`.
   */
  readonly run: <E, R>(entry: Entry, effect: Effect.Effect<void, E, R>) => Effect.Effect<Outcome, E | InboxError.InboxError, R>
  /**
   * Applies the effects of a batch in one transaction, each unless its entry
   * is recorded, each in a savepoint of its own: an effect that fails (or is
   * interrupted) is rolled back to its savepoint with its record, and the
   * others commit. Answers one exit per item, in order, once the transaction
   * committed; fails as a whole (nothing applied) when the transaction does.
   * Only stores that can share a transaction among messages have it (SQL).
   */
  readonly runBatch?: (<E, R>(
    items: ReadonlyArray<BatchItem<E, R>>
  ) => Effect.Effect<ReadonlyArray<Exit.Exit<Outcome, E | InboxError.InboxError>>, InboxError.InboxError>) | undefined
  /** The record of one message for one consumer, if it was processed. */
  readonly record: (consumer: string, messageId: string) => Effect.Effect<Option.Option<InboxRecord>, InboxError.InboxError>
  /** Records matching a query, oldest first. */
  readonly records: (query?: Query) => Effect.Effect<ReadonlyArray<InboxRecord>, InboxError.InboxError>
  /** Deletes the records processed before `cutoff` (Unix epoch milliseconds); answers how many. */
  readonly deleteBefore: (cutoff: number) => Effect.Effect<number, InboxError.InboxError>
  /** Deletes one record, so that the next delivery of the message is applied again; `true` if there was one. */
  readonly forget: (consumer: string, messageId: string) => Effect.Effect<boolean, InboxError.InboxError>
}>()("@herald/inbox/InboxStore") {}
