/**
 * The error raised when a message's identity cannot be read.
 *
 * `IdentityError` is one error type with a `reason` that says what went
 * wrong: {@link MissingHeader} when an identity header is absent or empty, and
 * {@link MalformedId} when a header or field holds something that is not a
 * valid id. `IdentityError` takes its `message` and `isRetryable` from the
 * reason. Neither reason is retryable: reading the same message again gives
 * the same result.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Ids from "./Ids.ts"
import { quote, typeName } from "./internal/quote.ts"

const TypeId = "~@herald/identity/IdentityError" as const
const ReasonTypeId = "~@herald/identity/IdentityError/Reason" as const

/**
 * An identity header is absent, or present with an empty value.
 *
 * @category errors
 * @since 0.1.0
 */
export class MissingHeader extends Schema.TaggedError<MissingHeader>("@herald/identity/IdentityError/MissingHeader")(
  "MissingHeader",
  { header: Schema.String }
) {
  /**
   * Marks this value as an identity error reason for runtime guards.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Says which header is missing, e.g. `header Herald-Message-Id is missing`.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `header ${this.header} is missing`
  }

  /**
   * Always `false`: the header will still be missing on a retry.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A header (or, for `MessageIdentity.make`, a field) holds a value that is
 * not a valid id. `header` names the header or field, `value` is the
 * rejected value and `message` is a readable explanation such as
 * `header Herald-Causation-Id: "a b" is not a valid id (whitespace at 1)`.
 * Build one with {@link malformedIdReason} to get that message.
 *
 * @category errors
 * @since 0.1.0
 */
export class MalformedId extends Schema.TaggedError<MalformedId>("@herald/identity/IdentityError/MalformedId")(
  "MalformedId",
  {
    header: Schema.String,
    value: Schema.String,
    message: Schema.String
  }
) {
  /**
   * Marks this value as an identity error reason for runtime guards.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the value will still be malformed on a retry.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The reasons an identity cannot be read.
 *
 * @category errors
 * @since 0.1.0
 */
export type IdentityErrorReason = MissingHeader | MalformedId

/**
 * Schema for {@link IdentityErrorReason}.
 *
 * @category schemas
 * @since 0.1.0
 */
export const IdentityErrorReason: Schema.Union<[typeof MissingHeader, typeof MalformedId]> = Schema.Union([
  MissingHeader,
  MalformedId
])

/**
 * A message's identity could not be read. `reason` says why; `message` and
 * `isRetryable` come from the reason.
 *
 * @category errors
 * @since 0.1.0
 */
export class IdentityError extends Schema.TaggedError<IdentityError>("@herald/identity/IdentityError")(
  "IdentityError",
  { reason: IdentityErrorReason }
) {
  /**
   * Marks this value as an `IdentityError` for runtime guards.
   *
   * @since 0.1.0
   */
  readonly [TypeId] = TypeId

  /**
   * Exposes the reason as the JavaScript error cause.
   *
   * @since 0.1.0
   */
  override readonly cause = this.reason

  /**
   * The reason's message.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return this.reason.message
  }

  /**
   * The reason's retryability (always `false` for the current reasons).
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
}

/**
 * Returns `true` when `u` is an {@link IdentityError}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isIdentityError = (u: unknown): u is IdentityError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when `u` is an {@link IdentityErrorReason}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isIdentityErrorReason = (u: unknown): u is IdentityErrorReason => Predicate.hasProperty(u, ReasonTypeId)

/**
 * Builds a {@link MalformedId} reason with its readable message.
 *
 * `source` says whether `header` names a header (the default) or a field.
 * `problem` defaults to `Ids.idProblem(value)`. Values longer than 64
 * characters are shortened in the message (not in `value`): the first 64,
 * then `…(N chars)`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const malformedIdReason = (
  header: string,
  value: string,
  options?: {
    readonly source?: "header" | "field" | undefined
    readonly problem?: string | undefined
  }
): MalformedId => {
  const problem = options?.problem ?? Ids.idProblem(value) ?? "rejected"
  const source = options?.source ?? "header"
  return new MalformedId({
    header,
    value,
    message: `${source} ${header}: ${quote(value)} is not a valid id (${problem})`
  })
}

/**
 * Builds the {@link MalformedId} reason of a header or field that holds a
 * value that is not a string: `value` names its type (`a number`,
 * `undefined`...), and the message says so, e.g.
 * `header Herald-Message-Id: a number is not a valid id (not a string)`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const notAStringReason = (
  header: string,
  value: unknown,
  options?: { readonly source?: "header" | "field" | undefined }
): MalformedId => {
  const type = typeName(value)
  return new MalformedId({
    header,
    value: type,
    message: `${options?.source ?? "header"} ${header}: ${type} is not a valid id (not a string)`
  })
}

/**
 * An `IdentityError` whose reason is {@link MissingHeader}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const missingHeader = (header: string): IdentityError =>
  new IdentityError({ reason: new MissingHeader({ header }) })

/**
 * An `IdentityError` whose reason is {@link MalformedId}, built with
 * {@link malformedIdReason}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const malformedId = (
  header: string,
  value: string,
  options?: {
    readonly source?: "header" | "field" | undefined
    readonly problem?: string | undefined
  }
): IdentityError => new IdentityError({ reason: malformedIdReason(header, value, options) })
