/**
 * The error of `@herald/replay`.
 *
 * A `ReplayError` carries a `reason`: one of the tagged reasons below, each
 * with a readable `message`, the original `cause` where there is one, and an
 * `isRetryable` flag. Failures of the transport itself (a stream that does
 * not exist, a lost connection, a message that does not decode) stay
 * `TransportError`s.
 *
 * | reason | when | retryable |
 * |---|---|---|
 * | `InvalidConfig` | a bad range, pace, name, batch size or store option | no |
 * | `UnsupportedDialect` | the `SqlClient` is neither PostgreSQL nor SQLite | no |
 * | `StoreError` | the database or the KV bucket failed | yes, unless the data itself caused it |
 * | `CheckpointBeyondEnd` | a projection's checkpoint is past the stream's last sequence | no |
 * | `CheckpointPurged` | the messages after a projection's checkpoint (or snapshot) are no longer in the stream | no |
 * | `CorruptState` | a stored snapshot that the projection's Schema cannot decode | no |
 * | `NestedTransaction` | a projection's checkpoint asked to commit inside a transaction it does not own | no |
 *
 * @since 0.1.0
 */
import { StoreFault } from "@herald/transport"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const TypeId = "~@herald/replay/ReplayError" as const
const ReasonTypeId = "~@herald/replay/ReplayError/Reason" as const

const base = {
  cause: Schema.optional(Schema.Defect())
}

/**
 * A range, pace, name or option is invalid.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@herald/replay/InvalidConfig")("InvalidConfig", {
  ...base,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid replay configuration: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The SQL stores support PostgreSQL and SQLite; the client is another dialect.
 *
 * @since 0.1.0
 * @category reasons
 */
export class UnsupportedDialect extends Schema.TaggedError<UnsupportedDialect>("@herald/replay/UnsupportedDialect")(
  "UnsupportedDialect",
  { ...base, dialect: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `the replay SQL stores support pg and sqlite, not ${this.dialect}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A store failed: a SQL error, a lost connection, a KV request that failed.
 * `retryable` is `false` only when the data itself caused it
 * (`StoreFault.classify`).
 *
 * @since 0.1.0
 * @category reasons
 */
export class StoreError extends Schema.TaggedError<StoreError>("@herald/replay/StoreError")("StoreError", {
  ...base,
  operation: Schema.String,
  detail: Schema.String,
  code: Schema.optional(Schema.String),
  retryable: Schema.Boolean
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `replay store ${this.operation}: ${this.code === undefined ? this.detail : `${this.code} ${this.detail}`}${
      this.retryable ? "" : " (caused by the data; not retryable)"
    }`
  }
  get isRetryable(): boolean {
    return this.retryable
  }
}

/**
 * A projection's checkpoint is past the stream's last sequence: the stream
 * was recreated, or the checkpoint belongs to another stream. Nothing is
 * applied; a silent skip would lose every message up to the checkpoint.
 *
 * @since 0.1.0
 * @category reasons
 */
export class CheckpointBeyondEnd extends Schema.TaggedError<CheckpointBeyondEnd>(
  "@herald/replay/CheckpointBeyondEnd"
)("CheckpointBeyondEnd", {
  ...base,
  projection: Schema.String,
  stream: Schema.String,
  checkpoint: Schema.Number,
  lastSequence: Schema.Number
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `projection ${this.projection}: checkpoint ${this.checkpoint} is beyond the last sequence of ${this.stream} (${this.lastSequence}); rebuild it, or reset its checkpoint`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The messages right after a projection's checkpoint (or snapshot) are no
 * longer in the stream: its first kept sequence is past the next one to
 * apply. Nothing is applied; the projection must be rebuilt (or restored
 * from a later snapshot).
 *
 * @since 0.1.0
 * @category reasons
 */
export class CheckpointPurged extends Schema.TaggedError<CheckpointPurged>("@herald/replay/CheckpointPurged")(
  "CheckpointPurged",
  { ...base, projection: Schema.String, stream: Schema.String, checkpoint: Schema.Number, firstSequence: Schema.Number }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `projection ${this.projection}: the messages after checkpoint ${this.checkpoint} are purged from ${this.stream} (its first kept sequence is ${this.firstSequence}); rebuild it`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A stored snapshot that the projection's state Schema cannot decode.
 *
 * @since 0.1.0
 * @category reasons
 */
export class CorruptState extends Schema.TaggedError<CorruptState>("@herald/replay/CorruptState")("CorruptState", {
  ...base,
  projection: Schema.String,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `projection ${this.projection}: the stored state does not decode: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A projection's batch ran inside a transaction that was already open. The
 * checkpoint must commit in the outermost transaction: inside another one
 * its "commit" is only a savepoint, and a rollback of the outer transaction
 * would undo applied messages the checkpoint already counted.
 *
 * @since 0.1.0
 * @category reasons
 */
export class NestedTransaction extends Schema.TaggedError<NestedTransaction>("@herald/replay/NestedTransaction")(
  "NestedTransaction",
  { ...base, projection: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `projection ${this.projection}: its checkpoint cannot commit inside a transaction that is already open (the commit would only be a savepoint's); run it outside sql.withTransaction`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The union of reasons.
 *
 * @since 0.1.0
 * @category models
 */
export type ReplayErrorReason =
  | InvalidConfig
  | UnsupportedDialect
  | StoreError
  | CheckpointBeyondEnd
  | CheckpointPurged
  | CorruptState
  | NestedTransaction

/**
 * Schema of the reason union.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplayErrorReason = Schema.Union([
  InvalidConfig,
  UnsupportedDialect,
  StoreError,
  CheckpointBeyondEnd,
  CheckpointPurged,
  CorruptState,
  NestedTransaction
])

/**
 * The error of every replay operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplayError extends Schema.TaggedError<ReplayError>("@herald/replay/ReplayError")("ReplayError", {
  reason: ReplayErrorReason
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
 * Wraps a reason in a `ReplayError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: ReplayErrorReason): ReplayError => new ReplayError({ reason })

/**
 * A `StoreError` for a failed operation, classified from its cause by
 * `StoreFault.classify`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const store = (operation: string, cause: unknown): ReplayError =>
  make(new StoreError({ operation, ...StoreFault.errorFields(cause), cause }))

/**
 * An `InvalidConfig`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalid = (detail: string): ReplayError => make(new InvalidConfig({ detail }))

/**
 * Returns `true` when a value is a `ReplayError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isReplayError = (u: unknown): u is ReplayError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is a `ReplayErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isReplayErrorReason = (u: unknown): u is ReplayErrorReason => Predicate.hasProperty(u, ReasonTypeId)
