/**
 * The error of `@herald/metrics`: a `MetricsError` whose `reason` says what
 * failed.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const TypeId = "~@herald/metrics/MetricsError" as const
const ReasonTypeId = "~@herald/metrics/MetricsError/Reason" as const

/**
 * The HTTP server could not listen on its address (in use, not permitted,
 * unknown host).
 *
 * @since 0.1.0
 * @category reasons
 */
export class ListenFailed extends Schema.TaggedError<ListenFailed>("@herald/metrics/ListenFailed")("ListenFailed", {
  host: Schema.String,
  port: Schema.Number,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `cannot listen on ${this.host}:${this.port}: ${this.detail}`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * An option is out of range (a port that is not an integer from 0 to 65535).
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>("@herald/metrics/InvalidOptions")(
  "InvalidOptions",
  { detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid metrics options: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Why a `MetricsError` happened.
 *
 * @since 0.1.0
 * @category models
 */
export type MetricsErrorReason = ListenFailed | InvalidOptions

/**
 * The schema of {@link MetricsErrorReason}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MetricsErrorReason = Schema.Union([
  ListenFailed,
  InvalidOptions
])

/**
 * The error of `@herald/metrics`.
 *
 * @since 0.1.0
 * @category errors
 */
export class MetricsError extends Schema.TaggedError<MetricsError>("@herald/metrics/MetricsError")("MetricsError", {
  reason: MetricsErrorReason
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
 * Wraps a reason in a `MetricsError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: MetricsErrorReason): MetricsError => new MetricsError({ reason })

/**
 * Returns `true` when a value is a `MetricsError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isMetricsError = (u: unknown): u is MetricsError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is a `MetricsErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isMetricsErrorReason = (u: unknown): u is MetricsErrorReason => Predicate.hasProperty(u, ReasonTypeId)
