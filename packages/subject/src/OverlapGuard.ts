/**
 * Detects overlapping JetStream stream subjects before the server does.
 *
 * JetStream refuses a stream whose subjects overlap another stream's subjects,
 * and a stream whose own subjects overlap each other. Checking a whole
 * topology up front turns a late, terse server error into a readable
 * `SubjectError` listing every offending pair, e.g.
 * `stream ORDERS "orders.>" overlaps stream AUDIT "*.created"`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as core from "./internal/core.ts"
import * as SubjectError from "./SubjectError.ts"
import type * as SubjectPattern from "./SubjectPattern.ts"

/**
 * A stream name and the subjects it captures.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamSubjects {
  readonly name: string
  readonly subjects: ReadonlyArray<SubjectPattern.SubjectPattern | string>
}

/**
 * Two stream subjects that can both match one concrete subject. `a` comes
 * before `b` in the input order (stream order, then subject order).
 *
 * @since 0.1.0
 * @category models
 */
export interface Overlap {
  readonly a: { readonly stream: string; readonly pattern: string }
  readonly b: { readonly stream: string; readonly pattern: string }
}

interface Item {
  readonly stream: string
  readonly pattern: string
  readonly tokens: ReadonlyArray<string>
}

const wrongType = (expected: string, actual: unknown): SubjectError.SubjectError =>
  SubjectError.fromReason(new SubjectError.WrongType({ expected, actual: core.typeName(actual) }))

const collect = (
  streams: ReadonlyArray<StreamSubjects>,
  strict: boolean
): Result.Result<Array<Item>, SubjectError.SubjectError> => {
  const items: Array<Item> = []
  if (!Array.isArray(streams)) return strict ? Result.fail(wrongType("an array of streams", streams)) : Result.succeed(items)
  for (const stream of streams) {
    const subjects: unknown = typeof stream === "object" && stream !== null ? stream.subjects : undefined
    if (!Array.isArray(subjects) || typeof stream.name !== "string") {
      if (strict) return Result.fail(wrongType("a stream with a string name and an array of subjects", stream))
      continue
    }
    for (const pattern of subjects as ReadonlyArray<unknown>) {
      const reason = core.validateUnknown(pattern, true)
      if (reason !== undefined) {
        if (strict) return Result.fail(SubjectError.fromReason(reason))
        continue
      }
      items.push({ stream: stream.name, pattern: pattern as string, tokens: (pattern as string).split(".") })
    }
  }
  return Result.succeed(items)
}

const pairs = (items: ReadonlyArray<Item>): Array<Overlap> => {
  const out: Array<Overlap> = []
  for (let i = 0; i < items.length; i++) {
    const x = items[i]!
    for (let j = i + 1; j < items.length; j++) {
      const y = items[j]!
      if (core.overlapsTokens(x.tokens, y.tokens)) {
        out.push({ a: { stream: x.stream, pattern: x.pattern }, b: { stream: y.stream, pattern: y.pattern } })
      }
    }
  }
  return out
}

/**
 * Every overlapping pair of subjects, across different streams and within
 * one stream (a repeated subject counts), each pair once, in input order.
 * Subjects that are not valid patterns are skipped; use {@link checkResult}
 * or {@link check} to have them reported.
 *
 * @since 0.1.0
 * @category checks
 */
export const find = (streams: ReadonlyArray<StreamSubjects>): ReadonlyArray<Overlap> => {
  const items = collect(streams, false)
  return Result.isSuccess(items) ? pairs(items.success) : []
}

/**
 * Succeeds when no subjects overlap. Fails with the `SubjectError` of the
 * first invalid pattern, or with an `Overlap` reason listing every pair.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkResult = (streams: ReadonlyArray<StreamSubjects>): Result.Result<void, SubjectError.SubjectError> => {
  const items = collect(streams, true)
  if (Result.isFailure(items)) return Result.fail(items.failure)
  const found = pairs(items.success)
  return found.length === 0
    ? Result.void
    : Result.fail(SubjectError.fromReason(new SubjectError.Overlap({ pairs: found })))
}

/**
 * The `Effect` form of {@link checkResult}.
 *
 * @since 0.1.0
 * @category checks
 */
export const check = (streams: ReadonlyArray<StreamSubjects>): Effect.Effect<void, SubjectError.SubjectError> =>
  Effect.suspend(() => Effect.fromResult(checkResult(streams)))
