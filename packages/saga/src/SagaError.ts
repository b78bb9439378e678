/**
 * The error of `@herald/saga`.
 *
 * A `SagaError` carries a `reason`: one of the tagged reasons below, each
 * with a readable `message`, the original `cause` where there is one, and an
 * `isRetryable` flag. The consumer runner reads `isRetryable` (through
 * `TransportError.isRetryable`): a retryable failure naks the message (it is
 * delivered again later), a non-retryable one dead-letters it.
 *
 * | reason | when | retryable |
 * |---|---|---|
 * | `InvalidConfig` | a bad saga definition, store or runner option | no |
 * | `UnsupportedDialect` | the `SqlClient` is neither PostgreSQL nor SQLite | no |
 * | `StoreError` | the database or the KV bucket failed | yes, unless the message itself caused it |
 * | `Conflict` | another transition of the same saga committed first, every time, up to the retry limit | yes |
 * | `CorruptState` | a stored state that the saga's Schema cannot decode | no |
 * | `InvalidTransition` | a handler returned a transition that cannot be carried out (an invalid subject, a command for a missing step, ...) | no |
 *
 * @since 0.1.0
 */
import { StoreFault } from "@herald/transport"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const TypeId = "~@herald/saga/SagaError" as const
const ReasonTypeId = "~@herald/saga/SagaError/Reason" as const

const base = {
  cause: Schema.optional(Schema.Defect())
}

/**
 * A definition, store or runner option is invalid.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@herald/saga/InvalidConfig")("InvalidConfig", {
  ...base,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid saga configuration: ${this.detail}`
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
export class UnsupportedDialect extends Schema.TaggedError<UnsupportedDialect>("@herald/saga/UnsupportedDialect")(
  "UnsupportedDialect",
  { ...base, dialect: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `the saga SQL store supports pg and sqlite, not ${this.dialect}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The store failed: a SQL error, a lost connection, a KV request that failed
 * or timed out. Nothing was committed (or the outcome is unknown); trying the
 * message again is safe, since the transition's record makes the retry
 * idempotent.
 *
 * `retryable` is `false` only when the message itself caused the failure
 * (`StoreFault.classify`).
 *
 * @since 0.1.0
 * @category reasons
 */
export class StoreError extends Schema.TaggedError<StoreError>("@herald/saga/StoreError")("StoreError", {
  ...base,
  operation: Schema.String,
  detail: Schema.String,
  code: Schema.optional(Schema.String),
  retryable: Schema.Boolean
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `saga store ${this.operation}: ${this.code === undefined ? this.detail : `${this.code} ${this.detail}`}${
      this.retryable ? "" : " (caused by the message; not retryable)"
    }`
  }
  get isRetryable(): boolean {
    return this.retryable
  }
}

/**
 * Another transition of the same saga instance committed between the load
 * and the commit of this one, on every attempt up to the limit. Retryable:
 * the message comes back later and is applied to the newer state.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Conflict extends Schema.TaggedError<Conflict>("@herald/saga/Conflict")("Conflict", {
  ...base,
  saga: Schema.String,
  id: Schema.String,
  attempts: Schema.Number
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `saga ${this.saga} ${this.id}: another transition committed first on each of ${this.attempts} attempts`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A stored state that the saga's state Schema cannot decode (the Schema
 * changed incompatibly, or the row was edited by hand).
 *
 * @since 0.1.0
 * @category reasons
 */
export class CorruptState extends Schema.TaggedError<CorruptState>("@herald/saga/CorruptState")("CorruptState", {
  ...base,
  saga: Schema.String,
  id: Schema.String,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `saga ${this.saga} ${this.id}: the stored state does not decode: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A handler returned a transition that cannot be carried out: a state its
 * Schema refuses, an outgoing message on an invalid subject, a timeout with
 * a negative delay.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>("@herald/saga/InvalidTransition")(
  "InvalidTransition",
  { ...base, saga: Schema.String, id: Schema.String, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `saga ${this.saga} ${this.id}: invalid transition: ${this.detail}`
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
export type SagaErrorReason =
  | InvalidConfig
  | UnsupportedDialect
  | StoreError
  | Conflict
  | CorruptState
  | InvalidTransition

/**
 * Schema of the reason union.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SagaErrorReason = Schema.Union([
  InvalidConfig,
  UnsupportedDialect,
  StoreError,
  Conflict,
  CorruptState,
  InvalidTransition
])

/**
 * The error of every saga operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class SagaError extends Schema.TaggedError<SagaError>("@herald/saga/SagaError")("SagaError", {
  reason: SagaErrorReason
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
 * Wraps a reason in a `SagaError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: SagaErrorReason): SagaError => new SagaError({ reason })

/**
 * A `StoreError` for a failed operation, classified from its cause by
 * `StoreFault.classify`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const store = (operation: string, cause: unknown): SagaError =>
  make(new StoreError({ operation, ...StoreFault.errorFields(cause), cause }))

/**
 * An `InvalidConfig`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalid = (detail: string): SagaError => make(new InvalidConfig({ detail }))

/**
 * Returns `true` when a value is a `SagaError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSagaError = (u: unknown): u is SagaError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is a `SagaErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSagaErrorReason = (u: unknown): u is SagaErrorReason => Predicate.hasProperty(u, ReasonTypeId)
