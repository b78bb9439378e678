/**
 * The error of `@herald/inbox`.
 *
 * An `InboxError` carries a `reason`: one of the tagged reasons below, each
 * with a readable `message`, the original `cause` where there is one, and an
 * `isRetryable` flag. The consumer runner reads `isRetryable` (through
 * `TransportError.isRetryable`): a retryable failure naks the message (it is
 * delivered again later), a non-retryable one dead-letters it.
 *
 * | reason | when | retryable |
 * |---|---|---|
 * | `InvalidConfig` | a bad table name, bucket name, duration, consumer name | no |
 * | `UnsupportedDialect` | the `SqlClient` is neither PostgreSQL nor SQLite | no |
 * | `NestedTransaction` | the middleware ran inside a transaction it does not own | no |
 * | `StoreError` | the database or the KV bucket failed | yes, unless the message itself caused it (see `StoreError`) |
 * | `InProgress` | another delivery of the same message holds the KV claim | yes |
 *
 * @since 0.1.0
 */
import { StoreFault } from "@herald/transport"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const TypeId = "~@herald/inbox/InboxError" as const
const ReasonTypeId = "~@herald/inbox/InboxError/Reason" as const

const base = {
  cause: Schema.optional(Schema.Defect())
}

/**
 * A configuration value is invalid.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@herald/inbox/InvalidConfig")("InvalidConfig", {
  ...base,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid inbox configuration: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The SQL store supports PostgreSQL and SQLite; the client is another dialect.
 *
 * @since 0.1.0
 * @category reasons
 */
export class UnsupportedDialect extends Schema.TaggedError<UnsupportedDialect>("@herald/inbox/UnsupportedDialect")(
  "UnsupportedDialect",
  { ...base, dialect: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `the inbox SQL store supports pg and sqlite, not ${this.dialect}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The inbox middleware ran inside a transaction that was already open. The
 * middleware must own the outermost transaction: inside another one its
 * "commit" is only a savepoint, the runner would ack the message before the
 * real commit, and a rollback of the outer transaction would lose the effect
 * of a message already acknowledged. Not retryable: it is a wiring mistake,
 * and the message is dead-lettered (kept) rather than lost.
 *
 * @since 0.1.0
 * @category reasons
 */
export class NestedTransaction extends Schema.TaggedError<NestedTransaction>("@herald/inbox/NestedTransaction")(
  "NestedTransaction",
  { ...base, consumer: Schema.String, messageId: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `inbox of ${this.consumer}: message ${this.messageId} arrived inside an open transaction; the inbox middleware must own the outermost transaction`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The store failed: a SQL error, a lost connection, a KV request that failed
 * or timed out. Nothing was recorded (or the outcome is unknown); trying the
 * message again is safe, since the record makes the retry idempotent.
 *
 * `code` is the database's error code (a PostgreSQL SQLSTATE such as
 * `42P01`, a SQLite result code name such as `SQLITE_CONSTRAINT_NOTNULL`, a
 * KV failure such as `MessageTooLarge`) and `detail` its message.
 * `retryable` is `false` only when the message itself caused the failure
 * (`StoreFault.classify`: PostgreSQL classes 22, 23 and 54; SQLite
 * `CONSTRAINT`, `TOOBIG` and `MISMATCH`; a KV value too large). Every other
 * failure (a missing table, a lost connection, a serialization failure, a
 * deadlock, a timeout, refused credentials, an unavailable bucket) is the
 * store's, heals when the store does, and is retryable: the runner naks the
 * message with backoff instead of dead-lettering it.
 *
 * @since 0.1.0
 * @category reasons
 */
export class StoreError extends Schema.TaggedError<StoreError>("@herald/inbox/StoreError")("StoreError", {
  ...base,
  operation: Schema.String,
  detail: Schema.String,
  code: Schema.optional(Schema.String),
  retryable: Schema.Boolean
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `inbox ${this.operation}: ${this.code === undefined ? this.detail : `${this.code} ${this.detail}`}${
      this.retryable ? "" : " (caused by the message; not retryable)"
    }`
  }
  get isRetryable(): boolean {
    return this.retryable
  }
}

/**
 * Another delivery of the same message is being handled right now and holds
 * its claim in the KV store (until `until`, Unix epoch milliseconds). The
 * runner naks this delivery; it comes back after the nak delay, when the
 * other one has finished (then it is a duplicate) or given up.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InProgress extends Schema.TaggedError<InProgress>("@herald/inbox/InProgress")("InProgress", {
  ...base,
  consumer: Schema.String,
  messageId: Schema.String,
  until: Schema.Number
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `inbox of ${this.consumer}: message ${this.messageId} is being handled by another delivery (claimed until ${
      new Date(this.until).toISOString()
    })`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The union of reasons.
 *
 * @since 0.1.0
 * @category models
 */
export type InboxErrorReason = InvalidConfig | UnsupportedDialect | NestedTransaction | StoreError | InProgress

/**
 * Schema of the reason union.
 *
 * @since 0.1.0
 * @category schemas
 */
export const InboxErrorReason = Schema.Union([InvalidConfig, UnsupportedDialect, NestedTransaction, StoreError, InProgress])

/**
 * The error of every inbox operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class InboxError extends Schema.TaggedError<InboxError>("@herald/inbox/InboxError")("InboxError", {
  reason: InboxErrorReason
}) {
  readonly [TypeId] = TypeId
  override readonly cause = this.reason
  override get message(): string {
    return this.reason.message
  }
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
}

/**
 * Wraps a reason in an `InboxError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: InboxErrorReason): InboxError => new InboxError({ reason })

/** A unique violation: PostgreSQL `23505`, SQLite's primary key and unique constraints. */
const duplicateKeyCodes = new Set(["23505", "SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"])

/**
 * A `StoreError` for a failed operation, classified from its cause by
 * `StoreFault.classify` (the database's code and message, and whether the
 * message caused it).
 *
 * With `ownKey: true` (the statement that inserts the inbox's own record),
 * a unique violation is the inbox's duplicate handling at work, not a fault
 * of the message: another delivery recorded the same message at the same
 * time. It is retryable: the redelivery finds the record and is a duplicate.
 * With `retryable: true` the failure is retryable whatever its code (the
 * commit of a batch: its failure cannot be pinned on one message).
 *
 * @since 0.1.0
 * @category constructors
 */
export const store = (
  operation: string,
  cause: unknown,
  options?: { readonly ownKey?: boolean | undefined; readonly retryable?: boolean | undefined }
): InboxError => {
  const fields = StoreFault.errorFields(cause)
  const ownDuplicate = options?.ownKey === true && fields.code !== undefined && duplicateKeyCodes.has(fields.code)
  return make(
    new StoreError({ operation, ...fields, retryable: options?.retryable === true || ownDuplicate || fields.retryable, cause })
  )
}

/**
 * An `InvalidConfig`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalid = (detail: string): InboxError => make(new InvalidConfig({ detail }))

/**
 * Returns `true` when a value is an `InboxError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isInboxError = (u: unknown): u is InboxError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is an `InboxErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isInboxErrorReason = (u: unknown): u is InboxErrorReason => Predicate.hasProperty(u, ReasonTypeId)
