/**
 * The one error of `@herald/outbox`.
 *
 * An `OutboxError` carries a `reason`: one of the tagged reasons below, each
 * with a readable `message`, the original `cause` where there is one, and an
 * `isRetryable` flag that says whether trying the same operation again may
 * succeed (the shape of `effect/sql`'s `SqlError` and of
 * `@herald/transport`'s `TransportError`).
 *
 * - `StorageError`: the database failed (`cause` is the `SqlError`); `code`
 *   is the database's error code; retryable unless the data written caused
 *   it (`StoreFault.classify`: PostgreSQL classes 22, 23, 54; SQLite
 *   `CONSTRAINT`, `TOOBIG`, `MISMATCH`). A missing table, a lost connection,
 *   a deadlock, a serialization failure or a timeout is retryable.
 * - `EncodeError`: the envelope could not be put on the wire (a reserved or
 *   malformed extra header, an empty type); never retryable.
 * - `InvalidSubject`: the subject is not a concrete NATS subject; never
 *   retryable.
 * - `InvalidInput`: an argument of `publish` / `publishAll` is not what it
 *   must be (an envelope with an invalid id or a body that is not bytes, a
 *   partition key that is not a string); `field` names it; never retryable.
 * - `InvalidConfig`: an option is out of range or a table name is not an
 *   identifier; never retryable.
 * - `MigrationFailed`: the migrations could not run; retryable only when the
 *   database error underneath is.
 *
 * @since 0.1.0
 */
import { StoreFault } from "@herald/transport"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const TypeId = "~@herald/outbox/OutboxError" as const
const ReasonTypeId = "~@herald/outbox/OutboxError/Reason" as const

const causeIsRetryable = (cause: unknown): boolean =>
  Predicate.hasProperty(cause, "isRetryable") && typeof cause.isRetryable === "boolean" ? cause.isRetryable : false

const causeMessage = (cause: unknown): string =>
  Predicate.hasProperty(cause, "message") && typeof cause.message === "string" && cause.message.length > 0
    ? cause.message
    : String(cause)

/**
 * The database failed while running `operation`. `cause` is the `SqlError`
 * (or whatever the store failed with); `code` is the database's error code
 * found in it (a PostgreSQL SQLSTATE such as `42P01`, a SQLite result code
 * name such as `SQLITE_BUSY`) and `detail` the database's message.
 *
 * Retryable unless the data written caused the failure (see
 * `StoreFault.classify` in `@herald/transport`): a store that is missing a
 * table, lost its connection, hit a deadlock, a serialization failure or a
 * timeout heals, and the operation can be tried again.
 *
 * @since 0.1.0
 * @category reasons
 */
export class StorageError extends Schema.TaggedError<StorageError>("@herald/outbox/StorageError")("StorageError", {
  cause: Schema.Defect(),
  operation: Schema.String,
  detail: Schema.optional(Schema.String),
  code: Schema.optional(Schema.String),
  retryable: Schema.optional(Schema.Boolean)
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    const detail = this.detail ?? causeMessage(this.cause)
    return `outbox ${this.operation}: ${this.code === undefined ? detail : `${this.code} ${detail}`}${
      this.isRetryable ? "" : " (caused by the data; not retryable)"
    }`
  }
  /** `retryable` as classified when the error was made; otherwise classified from the cause now. */
  get isRetryable(): boolean {
    return this.retryable ?? !StoreFault.classify(this.cause).causedByMessage
  }
}

/**
 * The envelope could not be encoded for the wire.
 *
 * @since 0.1.0
 * @category reasons
 */
export class EncodeError extends Schema.TaggedError<EncodeError>("@herald/outbox/EncodeError")("EncodeError", {
  cause: Schema.optional(Schema.Defect()),
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `cannot encode: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The subject is not a concrete NATS subject (empty, a wildcard, a bad token).
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidSubject extends Schema.TaggedError<InvalidSubject>("@herald/outbox/InvalidSubject")(
  "InvalidSubject",
  { cause: Schema.optional(Schema.Defect()), subject: Schema.String, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid subject ${JSON.stringify(this.subject)}: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * An argument of `publish` or `publishAll` is invalid: `field` names it
 * (`envelope.identity.messageId`, `envelope.body`, `partitionKey`, or in
 * `publishAll` `messages[2].envelope.type`). Nothing was stored.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("@herald/outbox/InvalidInput")(
  "InvalidInput",
  { cause: Schema.optional(Schema.Defect()), field: Schema.String, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid ${this.field}: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * An option is invalid: a table name that is not an identifier, a batch size
 * out of range, a duration that is not one.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@herald/outbox/InvalidConfig")(
  "InvalidConfig",
  { cause: Schema.optional(Schema.Defect()), detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid outbox configuration: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The outbox migrations failed.
 *
 * @since 0.1.0
 * @category reasons
 */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>("@herald/outbox/MigrationFailed")(
  "MigrationFailed",
  { cause: Schema.optional(Schema.Defect()), detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `outbox migration failed: ${this.detail}`
  }
  get isRetryable(): boolean {
    return causeIsRetryable(this.cause)
  }
}

/**
 * The union of reasons.
 *
 * @since 0.1.0
 * @category models
 */
export type OutboxErrorReason =
  | StorageError
  | EncodeError
  | InvalidSubject
  | InvalidInput
  | InvalidConfig
  | MigrationFailed

/**
 * Schema of the reason union.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OutboxErrorReason = Schema.Union([
  StorageError,
  EncodeError,
  InvalidSubject,
  InvalidInput,
  InvalidConfig,
  MigrationFailed
])

/**
 * The error of every outbox operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class OutboxError extends Schema.TaggedError<OutboxError>("@herald/outbox/OutboxError")("OutboxError", {
  reason: OutboxErrorReason
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
 * Wraps a reason in an `OutboxError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: OutboxErrorReason): OutboxError => new OutboxError({ reason })

/**
 * A `StorageError` for `operation` caused by `cause`, classified by
 * `StoreFault.classify` (the database's code and message, retryable unless
 * the data caused it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const storage = (operation: string) => (cause: unknown): OutboxError =>
  make(new StorageError({ operation, cause, ...StoreFault.errorFields(cause) }))

/**
 * An `InvalidConfig` error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalidConfig = (detail: string): OutboxError => make(new InvalidConfig({ detail }))

/**
 * Returns `true` when a value is an `OutboxError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isOutboxError = (u: unknown): u is OutboxError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is an `OutboxErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isOutboxErrorReason = (u: unknown): u is OutboxErrorReason => Predicate.hasProperty(u, ReasonTypeId)
