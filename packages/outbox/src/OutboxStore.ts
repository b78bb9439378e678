/**
 * `OutboxStore`: where outbox messages wait until a relay has appended them
 * to the `EventLog`.
 *
 * Two implementations ship: `OutboxSql` (PostgreSQL and SQLite through
 * `effect/sql`'s `SqlClient`) and `OutboxMemory` (in memory, for tests). Both
 * follow the same rules, written here once:
 *
 * - `insert` writes messages in the caller's unit of work: inside
 *   `sql.withTransaction` for SQL (the insert uses the transaction's
 *   connection), inside `OutboxMemory.transaction` for the memory store. A
 *   unit of work that fails or is interrupted leaves nothing behind.
 * - Messages are ordered by `id`, assigned at insert (insertion order).
 * - `claim` leases up to `limit` messages to `owner` until
 *   `now + leaseMillis`: the first ones, in id order, that are pending, due
 *   (`availableAt <= now`, i.e. not waiting out a retry backoff), not leased
 *   (or their lease expired), and whose partition key is not blocked. A key
 *   is blocked while one of its unsent messages cannot be claimed (leased,
 *   waiting out a backoff, or parked). So a key's claimed messages are its
 *   oldest unsent ones, in order, and a later message of a key is never
 *   handed out before an earlier one was sent. On PostgreSQL the claim locks
 *   with `FOR UPDATE SKIP LOCKED`, so concurrent relays never claim the same
 *   rows and never block each other; SQLite claims in one statement (a
 *   single writer).
 * - `markSent`, `markFailed` and `release` settle claimed messages. A failed
 *   message records its error, its attempt count and when it may be tried
 *   again, or is parked (`state = "failed"`), where it stays (and keeps
 *   blocking its key) until `requeue`.
 * - `deleteSent` removes sent messages older than a cut-off (retention).
 *
 * @since 0.1.0
 */
import type { Wire } from "@herald/transport"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type * as OutboxError from "./OutboxError.ts"

/**
 * A message to store: the wire form of an envelope (`Wire.encode`), its
 * subject and its optional partition key.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewMessage {
  readonly messageId: string
  readonly subject: string
  readonly raw: Wire.RawMessage
  readonly partitionKey: string | undefined
  /** When it was written (Unix epoch milliseconds, from the `Clock`). */
  readonly createdAt: number
}

/**
 * A message handed to a relay by `claim`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimedMessage {
  /** The store's sequence number: insertion order. */
  readonly id: number
  readonly messageId: string
  readonly subject: string
  /** Exactly what was enqueued: the headers (with `Nats-Msg-Id` = message id) and body. */
  readonly raw: Wire.RawMessage
  readonly partitionKey: string | undefined
  /** Attempts made before this one. */
  readonly attempts: number
  readonly createdAt: number
}

/**
 * What `claim` needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimRequest {
  readonly owner: string
  readonly now: number
  readonly leaseMillis: number
  readonly limit: number
}

/**
 * A failed attempt to record.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure {
  readonly id: number
  readonly error: string
  /** When the message may be claimed again. */
  readonly availableAt: number
  /** Park the message (`state = "failed"`) instead of retrying it. */
  readonly park: boolean
}

/**
 * The state of a stored message.
 *
 * @since 0.1.0
 * @category models
 */
export type State = "pending" | "sent" | "failed"

/**
 * The state of the outbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  /** Messages not yet sent (not counting parked ones), leased or not. */
  readonly pending: number
  /** Pending messages leased to a relay right now. */
  readonly leased: number
  /** Pending messages that failed at least once and wait for their next attempt. */
  readonly retrying: number
  /** Messages parked after `maxAttempts` (`state = "failed"`): never retried until `requeue`. */
  readonly parked: number
  /** Sent messages still kept (until the retention period ends). */
  readonly sent: number
  /** When the oldest pending message was written (`undefined` when none is pending). */
  readonly oldestPendingAt: number | undefined
  /** How long the oldest pending message has waited, in milliseconds (0 when none). */
  readonly oldestPendingAgeMillis: number
  /** The highest attempt count among unsent messages. */
  readonly maxAttempts: number
  /** The most recent failure among unsent messages, if any. */
  readonly lastError: FailedMessage | undefined
}

/**
 * An unsent message that failed at least once.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailedMessage {
  readonly messageId: string
  readonly subject: string
  readonly partitionKey: string | undefined
  readonly state: State
  readonly attempts: number
  readonly lastError: string
  readonly lastAttemptAt: number | undefined
  /** When it may be tried again (for a pending message). */
  readonly availableAt: number
  readonly createdAt: number
}

/**
 * The storage of the outbox.
 *
 * @since 0.1.0
 * @category services
 */
export class OutboxStore extends Context.Service<OutboxStore, {
  /** What the store is, for logs: `sql:pg:herald_outbox`, `memory`. */
  readonly describe: string
  /** Writes messages in the caller's unit of work (transaction). */
  readonly insert: (messages: ReadonlyArray<NewMessage>) => Effect.Effect<void, OutboxError.OutboxError>
  /** Leases claimable messages to `owner`, in id order (see the module's rules). */
  readonly claim: (request: ClaimRequest) => Effect.Effect<ReadonlyArray<ClaimedMessage>, OutboxError.OutboxError>
  /** Marks messages sent (one statement), clearing their leases and counting the attempt. */
  readonly markSent: (ids: ReadonlyArray<number>, now: number) => Effect.Effect<void, OutboxError.OutboxError>
  /** Records failed attempts: last error, attempts + 1, next availability or parking; clears the leases. */
  readonly markFailed: (
    failures: ReadonlyArray<Failure>,
    now: number
  ) => Effect.Effect<void, OutboxError.OutboxError>
  /** Gives back leases of messages not attempted (no attempt is counted). */
  readonly release: (ids: ReadonlyArray<number>, owner: string) => Effect.Effect<void, OutboxError.OutboxError>
  /** Gives back every lease `owner` holds on pending messages; answers how many. */
  readonly releaseOwner: (owner: string) => Effect.Effect<number, OutboxError.OutboxError>
  /** Deletes at most `limit` sent messages sent before `before`; answers how many. */
  readonly deleteSent: (before: number, limit: number) => Effect.Effect<number, OutboxError.OutboxError>
  /** Counts and ages, as of `now`. */
  readonly status: (now: number) => Effect.Effect<Status, OutboxError.OutboxError>
  /** Unsent messages that failed at least once, the most recent failure first. */
  readonly failures: (limit: number) => Effect.Effect<ReadonlyArray<FailedMessage>, OutboxError.OutboxError>
  /**
   * Puts parked messages (all, or those with the given message ids) back to
   * pending, due at `now`; answers how many.
   */
  readonly requeue: (
    now: number,
    messageIds?: ReadonlyArray<string>
  ) => Effect.Effect<number, OutboxError.OutboxError>
  /**
   * Signals that new messages may be claimable: after a commit in this
   * process and, on PostgreSQL, on `NOTIFY` from any process. Subscribe in a
   * scope; a signal may be spurious and signals may be coalesced.
   */
  readonly wakeups: Stream.Stream<void, OutboxError.OutboxError>
}>()("@herald/outbox/OutboxStore") {}
