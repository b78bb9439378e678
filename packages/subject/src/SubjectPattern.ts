/**
 * NATS subject patterns and their algebra: matching, overlap and containment.
 *
 * A pattern is a subject whose tokens may be wildcards: `*` matches exactly
 * one token and `>` matches one or more trailing tokens. A wildcard must be a
 * whole token and `>` must be the last token. Every concrete `Subject` is
 * also a pattern (matching only itself). Patterns are what subscriptions,
 * consumers and streams are configured with; this module answers which
 * subjects a pattern receives ({@link matches}), whether two patterns can
 * receive the same message ({@link overlaps}) and whether one pattern
 * receives everything another does ({@link contains}).
 *
 * @since 0.1.0
 */
import type * as Brand from "effect/Brand"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as core from "./internal/core.ts"
import type * as Subject from "./Subject.ts"
import * as SubjectError from "./SubjectError.ts"

/**
 * A validated NATS subject pattern.
 *
 * @since 0.1.0
 * @category models
 */
export type SubjectPattern = string & Brand.Brand<"SubjectPattern">

/**
 * Schema of a subject pattern: a string checked against the pattern rules and
 * branded `"SubjectPattern"`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubjectPattern: Schema.brand<Schema.String, "SubjectPattern"> = Schema.String.check(
  Schema.makeFilter((s: string) => {
    const reason = core.validate(s, true)
    return reason === undefined ? undefined : reason.message
  }, { expected: "a NATS subject pattern", identifier: "SubjectPattern" })
).pipe(Schema.brand("SubjectPattern"))

/**
 * Validates a string as a subject pattern.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (s: string): Result.Result<SubjectPattern, SubjectError.SubjectError> => {
  const reason = core.validateUnknown(s, true)
  return reason === undefined ? Result.succeed(s as SubjectPattern) : Result.fail(SubjectError.fromReason(reason))
}

/**
 * Validates a string as a subject pattern, failing the effect with a
 * `SubjectError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (s: string): Effect.Effect<SubjectPattern, SubjectError.SubjectError> =>
  Effect.suspend(() => Effect.fromResult(make(s)))

/**
 * Validates a string as a subject pattern. Throws the `SubjectError` when it
 * is invalid; meant for literals known at development time.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const makeUnsafe = (s: string): SubjectPattern => {
  const reason = core.validateUnknown(s, true)
  if (reason !== undefined) throw SubjectError.fromReason(reason)
  return s as SubjectPattern
}

/**
 * A concrete subject seen as the pattern matching exactly itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSubject = (s: Subject.Subject): SubjectPattern => s as string as SubjectPattern

/**
 * Returns `true` when the value is a string and a valid subject pattern.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSubjectPattern = (s: unknown): s is SubjectPattern => core.validateUnknown(s, true) === undefined

/**
 * The tokens of a pattern, in order (wildcards included as `"*"` / `">"`).
 *
 * @since 0.1.0
 * @category getters
 */
export const tokens = (p: SubjectPattern): ReadonlyArray<string> => p.split(".")

/**
 * Returns `true` when the pattern contains a `*` or `>` token.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isWildcard = (p: SubjectPattern): boolean => {
  const len = p.length
  for (let i = 0; i < len; i++) {
    const c = p.charCodeAt(i)
    if (c === core.STAR || c === core.GT) return true
  }
  return false
}

/**
 * Does the pattern match the subject? A string that is not a valid concrete
 * subject never matches. Runs in one pass over both strings without
 * allocating.
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches: {
  (subject: Subject.Subject | string): (pattern: SubjectPattern) => boolean
  (pattern: SubjectPattern, subject: Subject.Subject | string): boolean
} = dual(2, (pattern: SubjectPattern, subject: string): boolean => core.matches(pattern, subject))

/**
 * Do the two patterns match at least one common concrete subject? Symmetric.
 * Two stream subjects that overlap are rejected by JetStream.
 *
 * @since 0.1.0
 * @category predicates
 */
export const overlaps: {
  (that: SubjectPattern): (self: SubjectPattern) => boolean
  (self: SubjectPattern, that: SubjectPattern): boolean
} = dual(
  2,
  (self: SubjectPattern, that: SubjectPattern): boolean => core.overlapsTokens(self.split("."), that.split("."))
)

/**
 * Does `self` match every subject that `that` matches? (`orders.>` contains
 * `orders.*.created`, `*.created` does not contain `orders.>`.) Every pattern
 * contains itself.
 *
 * @since 0.1.0
 * @category predicates
 */
export const contains: {
  (that: SubjectPattern): (self: SubjectPattern) => boolean
  (self: SubjectPattern, that: SubjectPattern): boolean
} = dual(
  2,
  (self: SubjectPattern, that: SubjectPattern): boolean => core.containsTokens(self.split("."), that.split("."))
)
