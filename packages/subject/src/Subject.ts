/**
 * Concrete NATS subjects: the address a message is published to.
 *
 * A `Subject` is a branded string that passed validation: it is not empty, at
 * most 4096 characters, has no whitespace, no empty token (`a..b`, `.a`,
 * `a.`) and no wildcard character (`*`, `>`). Build one with {@link make}
 * (a `Result`), {@link decode} (an `Effect`), {@link makeUnsafe} (for
 * literals) or the {@link Subject} schema, and every failure is a typed
 * `SubjectError` saying which rule failed and where. A C0 control character
 * (U+0000 to U+001F) is refused like whitespace, and a value that is not a
 * string is a `WrongType` reason: these functions never throw on bad input
 * (the `*Unsafe` ones throw the `SubjectError`).
 *
 * @since 0.1.0
 */
import type * as Brand from "effect/Brand"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as core from "./internal/core.ts"
import * as SubjectError from "./SubjectError.ts"

/**
 * A validated concrete NATS subject.
 *
 * @since 0.1.0
 * @category models
 */
export type Subject = string & Brand.Brand<"Subject">

/**
 * Schema of a concrete subject: a string checked against the subject rules
 * and branded `"Subject"`. Decoding failures carry the reason's message,
 * e.g. `subject "orders. created": whitespace at position 7`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Subject: Schema.brand<Schema.String, "Subject"> = Schema.String.check(
  Schema.makeFilter((s: string) => {
    const reason = core.validate(s, false)
    return reason === undefined ? undefined : reason.message
  }, { expected: "a NATS subject", identifier: "Subject" })
).pipe(Schema.brand("Subject"))

/**
 * The maximum length of a subject, in characters (4096).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLength: number = SubjectError.MAX_LENGTH

/**
 * Validates a string as a concrete subject.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (s: string): Result.Result<Subject, SubjectError.SubjectError> => {
  const reason = core.validateUnknown(s, false)
  return reason === undefined ? Result.succeed(s as Subject) : Result.fail(SubjectError.fromReason(reason))
}

/**
 * Validates a string as a concrete subject, failing the effect with a
 * `SubjectError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (s: string): Effect.Effect<Subject, SubjectError.SubjectError> =>
  Effect.suspend(() => Effect.fromResult(make(s)))

/**
 * Validates a string as a concrete subject. Throws the `SubjectError` when it
 * is invalid; meant for literals known at development time.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const makeUnsafe = (s: string): Subject => {
  const reason = core.validateUnknown(s, false)
  if (reason !== undefined) throw SubjectError.fromReason(reason)
  return s as Subject
}

/**
 * Returns `true` when the value is a string and a valid concrete subject.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSubject = (s: unknown): s is Subject => core.isValidSubject(s)

/**
 * The tokens of a subject, in order.
 *
 * @since 0.1.0
 * @category getters
 */
export const tokens = (s: Subject): ReadonlyArray<string> => s.split(".")

/**
 * Joins parts with `.` and validates the result. Each part may itself hold
 * several tokens (`join(prefix, "orders", "created")`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const join = (
  ...parts: ReadonlyArray<Subject | string>
): Result.Result<Subject, SubjectError.SubjectError> => {
  for (const part of parts) {
    if (typeof part !== "string") return Result.fail(core.notAString(part))
  }
  return make(parts.join("."))
}

/**
 * Like {@link join}, but throws the `SubjectError`; meant for literals.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const joinUnsafe = (...parts: ReadonlyArray<Subject | string>): Subject => {
  const result = join(...parts)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}
