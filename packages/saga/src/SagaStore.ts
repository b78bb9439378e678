/**
 * `SagaStore`: where saga instances, their pending timeouts and the history
 * of their transitions are kept.
 *
 * Three implementations ship: `SagaSql` (PostgreSQL and SQLite through
 * `effect/sql`), `SagaMemory` (in memory, for tests and single-process
 * applications) and `@herald/saga/kv` (`SagaKv`, on NATS KV). The engine
 * (`SagaEngine`) holds every rule of a saga; a store only keeps data and
 * answers `commit` atomically. The rules every store follows, written here
 * once:
 *
 * - An instance is identified by (saga name, instance id). Its `version`
 *   is 1 after its first transition and grows by one per transition.
 * - `commit` is one atomic unit: it applies the new status and state only
 *   if the stored version is still `expectedVersion` (0: the instance must
 *   not exist), records the trigger's message id as processed by the saga,
 *   records the history entry, stores the outgoing messages so that they
 *   are appended to the `EventLog` exactly as given (SQL: in the outbox
 *   table, in the same transaction; memory and KV: kept with the instance
 *   until appended, with deterministic message ids so that a repeated
 *   append is a duplicate inside JetStream's window), deletes the cancelled
 *   timeouts, deletes the fired timeout (which must still exist) and stores
 *   the scheduled ones. It answers `"committed"`, `"duplicate"` when the
 *   trigger was processed by the saga before (nothing is written), or
 *   `"conflict"` when the version moved or the fired timeout is gone
 *   (nothing is written).
 * - A timeout is identified by its `token` (also the message id of the
 *   message it delivers) and, within its instance, by its `name`:
 *   scheduling a name that is pending replaces it.
 * - `due` answers timeouts whose `dueAt` is at or before `now`, earliest
 *   first.
 * - `counts` answers how many instances each saga has in each status, read
 *   from what is stored (so it holds across processes and restarts), only
 *   the pairs with at least one instance, in {@link countOrder}.
 *
 * @since 0.1.0
 */
import type { Envelope, Wire } from "@herald/transport"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as SagaError from "./SagaError.ts"

/**
 * Where an instance stands.
 *
 * - `running`: reacting to messages.
 * - `completed`: finished; later messages are ignored.
 * - `compensating`: undoing completed steps.
 * - `compensated`: every compensation done; finished.
 * - `compensation-failed`: finished, with at least one compensation that
 *   failed after its retries (`failure` says which and why).
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "running" | "completed" | "compensating" | "compensated" | "compensation-failed"

/**
 * Every status.
 *
 * @since 0.1.0
 * @category constants
 */
export const statuses: ReadonlyArray<Status> = ["running", "completed", "compensating", "compensated", "compensation-failed"]

/**
 * Whether an instance in this status still reacts to messages.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFinal = (status: Status): boolean =>
  status === "completed" || status === "compensated" || status === "compensation-failed"

/**
 * One saga instance as stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Instance {
  readonly saga: string
  readonly id: string
  readonly status: Status
  /** The state, encoded by the saga's state Schema into a JSON value. */
  readonly state: unknown
  readonly version: number
  /** Unix epoch milliseconds. */
  readonly createdAt: number
  readonly updatedAt: number
  /** Why it ended in `compensation-failed` (or another reason a handler gave). */
  readonly failure: string | undefined
}

/**
 * A pending timeout: a message delivered to the saga at `dueAt` unless it is
 * cancelled (or replaced) before.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeout {
  readonly saga: string
  /** The instance id. */
  readonly id: string
  /** Unique; the message id of `message`. */
  readonly token: string
  /** Its name within the instance (cancel and replace by name). */
  readonly name: string
  /** Unix epoch milliseconds. */
  readonly dueAt: number
  /** The message to deliver, in wire form (`Wire.encode`). */
  readonly message: Wire.RawMessage
}

/**
 * The message a transition reacted to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Trigger {
  readonly messageId: string
  readonly type: string
  /** The subject it arrived on (a timeout: empty). */
  readonly subject: string
  /** Where it was stored (a timeout: absent). */
  readonly stream: string | undefined
  readonly streamSequence: number | undefined
}

/**
 * A message a transition sends.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outgoing {
  readonly subject: string
  readonly envelope: Envelope.Envelope
}

/**
 * One committed transition, as kept in the history.
 *
 * @since 0.1.0
 * @category models
 */
export interface HistoryEntry {
  readonly saga: string
  readonly id: string
  /** The version the transition produced. */
  readonly version: number
  readonly trigger: Trigger
  /** The status after the transition. */
  readonly status: Status
  readonly outgoing: ReadonlyArray<{ readonly messageId: string; readonly type: string; readonly subject: string }>
  readonly scheduled: ReadonlyArray<{ readonly name: string; readonly token: string; readonly dueAt: number }>
  readonly cancelled: ReadonlyArray<string>
  /** Unix epoch milliseconds. */
  readonly at: number
}

/**
 * One transition to write atomically.
 *
 * @since 0.1.0
 * @category models
 */
export interface Commit {
  readonly saga: string
  readonly id: string
  /** The version loaded before the transition (0: a new instance). */
  readonly expectedVersion: number
  readonly status: Status
  readonly state: unknown
  readonly failure: string | undefined
  readonly now: number
  readonly trigger: Trigger
  readonly outgoing: ReadonlyArray<Outgoing>
  /** Names of pending timeouts to delete. */
  readonly cancel: ReadonlyArray<string>
  /** Timeouts to store (a pending one of the same name is replaced). */
  readonly schedule: ReadonlyArray<Timeout>
  /** The token of the timeout this transition fires: it must still be pending, and is deleted. */
  readonly fired: string | undefined
}

/**
 * What `commit` did.
 *
 * @since 0.1.0
 * @category models
 */
export type CommitResult = "committed" | "duplicate" | "conflict"

/**
 * A filter over instances, in `updatedAt` order (then id).
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  readonly saga?: string | undefined
  readonly status?: Status | undefined
  /** At most this many (default 100). */
  readonly limit?: number | undefined
}

/**
 * The default `limit` of a query.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLimit = 100

/**
 * How many instances of one saga are in one status.
 *
 * @since 0.1.0
 * @category models
 */
export interface Count {
  readonly saga: string
  readonly status: Status
  readonly count: number
}

/**
 * The order of `counts`: by saga name (by code point), then by status in the
 * order of {@link statuses}.
 *
 * @since 0.1.0
 * @category ordering
 */
export const countOrder = (a: Count, b: Count): number =>
  a.saga < b.saga ? -1 : a.saga > b.saga ? 1 : statuses.indexOf(a.status) - statuses.indexOf(b.status)

/**
 * A store.
 *
 * @since 0.1.0
 * @category services
 */
export class SagaStore extends Context.Service<SagaStore, {
  /** `"sql:pg"`, `"sql:sqlite"`, `"memory"` or `"kv"`. */
  readonly kind: string
  /** One instance. */
  readonly load: (saga: string, id: string) => Effect.Effect<Option.Option<Instance>, SagaError.SagaError>
  /** Whether the saga committed a transition triggered by this message id. */
  readonly processed: (saga: string, messageId: string) => Effect.Effect<boolean, SagaError.SagaError>
  /** Writes one transition atomically (see the module's rules). */
  readonly commit: (commit: Commit) => Effect.Effect<CommitResult, SagaError.SagaError>
  /** Timeouts due at `now`, earliest first, at most `limit` (of one saga when given). */
  readonly due: (
    now: number,
    limit: number,
    saga?: string
  ) => Effect.Effect<ReadonlyArray<Timeout>, SagaError.SagaError>
  /** The pending timeouts of one instance, earliest first. */
  readonly timeouts: (saga: string, id: string) => Effect.Effect<ReadonlyArray<Timeout>, SagaError.SagaError>
  /** Instances matching a query. */
  readonly list: (query?: Query) => Effect.Effect<ReadonlyArray<Instance>, SagaError.SagaError>
  /**
   * How many instances are in each status, by saga (of one saga when
   * given): only the pairs with at least one instance, in `countOrder`.
   */
  readonly counts: (saga?: string) => Effect.Effect<ReadonlyArray<Count>, SagaError.SagaError>
  /** The transitions of one instance, oldest first. */
  readonly history: (saga: string, id: string) => Effect.Effect<ReadonlyArray<HistoryEntry>, SagaError.SagaError>
  /**
   * Appends outgoing messages committed but not yet appended (memory and KV
   * keep them with the instance; SQL hands them to the outbox relay and does
   * nothing here). Answers how many were appended.
   */
  readonly flush: Effect.Effect<number, SagaError.SagaError>
  /**
   * Deletes finished instances last updated before `before`, with their
   * history, their record of processed messages and any timeouts; answers
   * how many. A message of a deleted instance delivered again afterwards is
   * no longer recognised (a start message would start a new run): keep
   * finished instances longer than any redelivery or replay can reach.
   */
  readonly deleteFinished: (before: number) => Effect.Effect<number, SagaError.SagaError>
}>()("@herald/saga/SagaStore") {}

/**
 * The history entry a commit records: the version it produces, its trigger
 * and status, the ids, types and subjects of its outgoing messages, the
 * timeouts it scheduled and cancelled.
 *
 * @since 0.1.0
 * @category constructors
 */
export const historyOf = (c: Commit): HistoryEntry => ({
  saga: c.saga,
  id: c.id,
  version: c.expectedVersion + 1,
  trigger: c.trigger,
  status: c.status,
  outgoing: c.outgoing.map((o) => ({ messageId: o.envelope.identity.messageId, type: o.envelope.type, subject: o.subject })),
  scheduled: c.schedule.map((t) => ({ name: t.name, token: t.token, dueAt: t.dueAt })),
  cancelled: c.cancel,
  at: c.now
})
