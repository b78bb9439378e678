/**
 * The single error type of `@herald/subject`.
 *
 * Every failure of this package (an invalid subject or pattern, a bad template
 * value, overlapping stream subjects) is a `SubjectError` whose `reason` is one
 * tagged reason class. The reason says which rule was broken and where (token
 * index and character offset), and its `message` is readable on its own, e.g.
 * `subject "orders. created": whitespace at position 7`. The top-level error
 * delegates its `message` to the reason, so logs stay useful without
 * inspecting the structure. None of the reasons is retryable: the same input
 * always fails the same way.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { quote } from "./internal/quote.ts"

const TypeId = "~@herald/subject/SubjectError" as const
const ReasonTypeId = "~@herald/subject/SubjectError/Reason" as const

/**
 * The maximum length, in characters, of a subject or pattern.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_LENGTH = 4096

const show = quote

/**
 * The input is not a string (or, for a template's parameters or a namespace's
 * options, not an object). `expected` says what was expected, `actual` what
 * was given (`undefined`, `null`, `a number`, `an object`...).
 *
 * @since 0.2.0
 * @category reasons
 */
export class WrongType extends Schema.TaggedError<WrongType>("@herald/subject/SubjectError/WrongType")("WrongType", {
  expected: Schema.String,
  actual: Schema.String
}) {
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.2.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.2.0
   */
  override get message(): string {
    return `subject: expected ${this.expected}, got ${this.actual}`
  }
}

/**
 * The input contains a C0 control character (U+0000 to U+001F) other than
 * whitespace at character offset `position`. (Tab, LF, VT, FF and CR are
 * `Whitespace`.)
 *
 * @since 0.2.0
 * @category reasons
 */
export class ControlCharacter
  extends Schema.TaggedError<ControlCharacter>("@herald/subject/SubjectError/ControlCharacter")(
    "ControlCharacter",
    { input: Schema.String, position: Schema.Int }
  )
{
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.2.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.2.0
   */
  override get message(): string {
    const code = this.input.charCodeAt(this.position).toString(16).toUpperCase().padStart(4, "0")
    return `subject ${show(this.input)}: control character U+${code} at position ${this.position}`
  }
}

/**
 * The input is the empty string.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Empty extends Schema.TaggedError<Empty>("@herald/subject/SubjectError/Empty")("Empty", {
  input: Schema.String
}) {
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `subject ${show(this.input)}: must not be empty`
  }
}

/**
 * A token is empty: a leading, trailing or doubled `.`.
 *
 * `token` is the 0-based token index, `position` the character offset where
 * the empty token starts.
 *
 * @since 0.1.0
 * @category reasons
 */
export class EmptyToken extends Schema.TaggedError<EmptyToken>("@herald/subject/SubjectError/EmptyToken")(
  "EmptyToken",
  { input: Schema.String, token: Schema.Int, position: Schema.Int }
) {
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `subject ${show(this.input)}: empty token ${this.token} at position ${this.position}`
  }
}

/**
 * The input contains a whitespace character (space, tab, CR, LF or any other
 * character matched by `\s`) at character offset `position`.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Whitespace extends Schema.TaggedError<Whitespace>("@herald/subject/SubjectError/Whitespace")(
  "Whitespace",
  { input: Schema.String, position: Schema.Int }
) {
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `subject ${show(this.input)}: whitespace at position ${this.position}`
  }
}

/**
 * A concrete subject contains a wildcard character (`*` or `>`). `position`
 * is the offset of the first wildcard character of token `token`.
 *
 * @since 0.1.0
 * @category reasons
 */
export class WildcardInSubject
  extends Schema.TaggedError<WildcardInSubject>("@herald/subject/SubjectError/WildcardInSubject")(
    "WildcardInSubject",
    { input: Schema.String, token: Schema.Int, position: Schema.Int }
  )
{
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    const char = JSON.stringify(this.input.charAt(this.position))
    return `subject ${
      show(this.input)
    }: wildcard ${char} in token ${this.token} at position ${this.position} is not allowed in a concrete subject`
  }
}

/**
 * A pattern contains a wildcard character that is not a whole token, such as
 * `a.b*` or `a.>b`. `position` is the offset of the first wildcard character
 * of token `token`.
 *
 * @since 0.1.0
 * @category reasons
 */
export class PartialWildcard
  extends Schema.TaggedError<PartialWildcard>("@herald/subject/SubjectError/PartialWildcard")(
    "PartialWildcard",
    { input: Schema.String, token: Schema.Int, position: Schema.Int }
  )
{
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    const char = JSON.stringify(this.input.charAt(this.position))
    return `subject ${
      show(this.input)
    }: wildcard ${char} at position ${this.position} must be a whole token (token ${this.token})`
  }
}

/**
 * A pattern has a `>` token that is not its last token. `position` is the
 * offset of that `>`.
 *
 * @since 0.1.0
 * @category reasons
 */
export class FullWildcardNotLast
  extends Schema.TaggedError<FullWildcardNotLast>("@herald/subject/SubjectError/FullWildcardNotLast")(
    "FullWildcardNotLast",
    { input: Schema.String, token: Schema.Int, position: Schema.Int }
  )
{
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `subject ${
      show(this.input)
    }: ">" at position ${this.position} (token ${this.token}) must be the last token`
  }
}

/**
 * The input is longer than `max` characters.
 *
 * @since 0.1.0
 * @category reasons
 */
export class TooLong extends Schema.TaggedError<TooLong>("@herald/subject/SubjectError/TooLong")("TooLong", {
  input: Schema.String,
  length: Schema.Int,
  max: Schema.Int
}) {
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `subject ${show(this.input)}: length ${this.length} exceeds the maximum of ${this.max} characters`
  }
}

/**
 * A value substituted into a subject (a template parameter, a namespace part)
 * is not a valid single token. `input` names what was being built (the
 * template text), `value` is the offending value and `message` explains the
 * problem and names the parameter.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidToken extends Schema.TaggedError<InvalidToken>("@herald/subject/SubjectError/InvalidToken")(
  "InvalidToken",
  { input: Schema.String, value: Schema.String, message: Schema.String }
) {
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The text of a subject template is malformed: an unclosed or empty
 * placeholder, a placeholder that is not a whole token (`a.x{id}.b`), a stray
 * brace or a duplicated placeholder name. `token` and `position` locate the
 * offending token, `problem` says what is wrong.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidTemplate
  extends Schema.TaggedError<InvalidTemplate>("@herald/subject/SubjectError/InvalidTemplate")(
    "InvalidTemplate",
    { input: Schema.String, token: Schema.Int, position: Schema.Int, problem: Schema.String }
  )
{
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same input fails the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `template ${
      show(this.input)
    }: token ${this.token} at position ${this.position}: ${this.problem}`
  }
}

/**
 * One side of an overlapping pair: a stream name and one of its subjects.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StreamPattern = Schema.Struct({ stream: Schema.String, pattern: Schema.String })

/**
 * Two stream subjects that can both match one concrete subject.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OverlapPair = Schema.Struct({ a: StreamPattern, b: StreamPattern })

/**
 * Two stream subjects that can both match one concrete subject.
 *
 * @since 0.1.0
 * @category models
 */
export type OverlapPair = typeof OverlapPair.Type

/**
 * Renders one overlapping pair as `stream A "x.>" overlaps stream B "x.*"`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatPair = (pair: OverlapPair): string =>
  `stream ${pair.a.stream} ${quote(pair.a.pattern)} overlaps stream ${pair.b.stream} ${quote(pair.b.pattern)}`

/**
 * Stream subjects overlap, which JetStream refuses both across streams and
 * within one stream. `pairs` lists every overlapping pair once.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Overlap extends Schema.TaggedError<Overlap>("@herald/subject/SubjectError/Overlap")("Overlap", {
  pairs: Schema.Array(OverlapPair)
}) {
  /**
   * Marks this value as a subject error reason.
   *
   * @since 0.1.0
   */
  readonly [ReasonTypeId] = ReasonTypeId

  /**
   * Always `false`: the same configuration overlaps again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * A readable description of the failure listing every pair.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `overlapping stream subjects: ${this.pairs.map(formatPair).join("; ")}`
  }
}

/**
 * Union of every reason a `SubjectError` can carry.
 *
 * @since 0.1.0
 * @category models
 */
export type SubjectErrorReason =
  | WrongType
  | Empty
  | EmptyToken
  | Whitespace
  | ControlCharacter
  | WildcardInSubject
  | PartialWildcard
  | FullWildcardNotLast
  | TooLong
  | InvalidToken
  | InvalidTemplate
  | Overlap

/**
 * Schema of the reason union.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubjectErrorReason: Schema.Union<[
  typeof WrongType,
  typeof Empty,
  typeof EmptyToken,
  typeof Whitespace,
  typeof ControlCharacter,
  typeof WildcardInSubject,
  typeof PartialWildcard,
  typeof FullWildcardNotLast,
  typeof TooLong,
  typeof InvalidToken,
  typeof InvalidTemplate,
  typeof Overlap
]> = Schema.Union([
  WrongType,
  Empty,
  EmptyToken,
  Whitespace,
  ControlCharacter,
  WildcardInSubject,
  PartialWildcard,
  FullWildcardNotLast,
  TooLong,
  InvalidToken,
  InvalidTemplate,
  Overlap
])

/**
 * The error of every fallible operation in `@herald/subject`. Inspect
 * `reason._tag` to know which rule failed; `message` is the reason's message.
 *
 * @since 0.1.0
 * @category errors
 */
export class SubjectError extends Schema.TaggedError<SubjectError>("@herald/subject/SubjectError")("SubjectError", {
  reason: SubjectErrorReason
}) {
  /**
   * Marks this value as a `SubjectError`.
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
    return this.reason.message || this.reason._tag
  }

  /**
   * Delegates to the reason; always `false` for the reasons of this package.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
}

/**
 * Wraps a reason into a `SubjectError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromReason = (reason: SubjectErrorReason): SubjectError => new SubjectError({ reason })

/**
 * Returns `true` when a value is a `SubjectError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSubjectError = (u: unknown): u is SubjectError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is one of the `SubjectError` reasons.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSubjectErrorReason = (u: unknown): u is SubjectErrorReason => Predicate.hasProperty(u, ReasonTypeId)
