import { afterAll, describe, expect, it } from "@effect/vitest"
import {
  Namespace,
  OverlapGuard,
  Subject,
  SubjectError,
  SubjectPattern,
  SubjectTemplate,
  SubjectTrie
} from "@herald/subject"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { anyInput, fuzz, hostileChars, hostileString, notString, prototypeSnapshot, runs } from "../../../fuzz.shared.ts"

const before = prototypeSnapshot()
afterAll(() => {
  expect(prototypeSnapshot()).toStrictEqual(before)
  expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
})

/** A failure is a `SubjectError` with a known reason and a short message. */
const typedError = (error: unknown): void => {
  expect(SubjectError.isSubjectError(error)).toBe(true)
  const e = error as SubjectError.SubjectError
  expect(SubjectError.isSubjectErrorReason(e.reason)).toBe(true)
  expect(typeof e.message).toBe("string")
  expect(e.message.length).toBeLessThan(1_000)
  expect(e.isRetryable).toBe(false)
}

const checkResult = (valid: (value: string) => boolean) => (result: Result.Result<string, unknown>): void => {
  if (Result.isFailure(result)) typedError(result.failure)
  else expect(valid(result.success)).toBe(true)
}

const isSubject = (s: string) => Subject.isSubject(s)
const isPattern = (s: string) => SubjectPattern.isSubjectPattern(s)

/** Subject-like text: hostile characters among dots and wildcards. */
const subjectLike = fc.oneof(
  hostileString,
  fc.array(fc.string({ unit: fc.constantFrom(...hostileChars), minLength: 0, maxLength: 6 }), { maxLength: 6 }).map((
    tokens
  ) => tokens.join("."))
)

const input = fc.oneof({ weight: 3, arbitrary: subjectLike }, notString)

const template = SubjectTemplate.makeUnsafe("orders.{id}.{__proto__}.x")
const billing = Namespace.makeUnsafe({ env: "prod", app: "billing" })

const countedRuns = (n: number) => expect(n).toBeGreaterThanOrEqual(runs)

describe("fuzz: every constructor and decoder returns a value or a SubjectError", () => {
  it("Subject.make, isSubject, decode and the schema", () => {
    countedRuns(fuzz(input, (u) => Subject.make(u as string), (r, u) => {
      checkResult(isSubject)(r)
      expect(Subject.isSubject(u)).toBe(Result.isSuccess(r))
    }))
    countedRuns(fuzz(input, (u) => Effect.runSyncExit(Subject.decode(u as string)), (exit) => {
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons[0]
        expect(error?._tag).toBe("Fail")
        if (error?._tag === "Fail") typedError(error.error)
      }
    }))
    const decodeSchema = Schema.decodeUnknownResult(Subject.Subject)
    countedRuns(fuzz(input, (u) => decodeSchema(u), (r, u) => expect(Result.isSuccess(r)).toBe(Subject.isSubject(u))))
  })

  it("Subject.makeUnsafe throws nothing but the SubjectError", () => {
    countedRuns(fuzz(input, (u) => Result.try({ try: () => Subject.makeUnsafe(u as string), catch: (e) => e }), (r) => {
      if (Result.isFailure(r)) typedError(r.failure)
    }))
  })

  it("Subject.join", () => {
    countedRuns(
      fuzz(fc.array(input, { maxLength: 5 }), (parts) => Subject.join(...(parts as Array<string>)), checkResult(isSubject))
    )
  })

  it("SubjectPattern.make, isSubjectPattern, decode and matches", () => {
    countedRuns(fuzz(input, (u) => SubjectPattern.make(u as string), (r, u) => {
      checkResult(isPattern)(r)
      expect(SubjectPattern.isSubjectPattern(u)).toBe(Result.isSuccess(r))
    }))
    countedRuns(fuzz(input, (u) => Effect.runSyncExit(SubjectPattern.decode(u as string)), () => {}))
    const patterns = ["a.>", "*", ">", "a.*.c"].map(SubjectPattern.makeUnsafe)
    countedRuns(
      fuzz(input, (u) => patterns.map((p) => SubjectPattern.matches(p, u as string)), (matched, u) => {
        if (!Subject.isSubject(u)) expect(matched).toStrictEqual([false, false, false, false])
      })
    )
  })

  it("SubjectTemplate.make, format and parse", () => {
    countedRuns(fuzz(input, (u) => SubjectTemplate.make(u as string), (r) => {
      if (Result.isFailure(r)) typedError(r.failure)
      else expect(SubjectPattern.isSubjectPattern(r.success.pattern)).toBe(true)
    }))
    const params = fc.oneof(
      notString,
      fc.record({ id: input, ["__proto__"]: input }),
      fc.dictionary(fc.constantFrom("id", "__proto__", "constructor"), input)
    )
    countedRuns(fuzz(params, (p) => template.format(p as never), checkResult(isSubject)))
    countedRuns(fuzz(input, (u) => template.parse(u as string), (parsed, u) => {
      if (Option.isSome(parsed)) {
        expect(Subject.isSubject(u)).toBe(true)
        expect(template.format(parsed.value)).toStrictEqual(Result.succeed(u))
      }
    }))
  })

  it("Namespace.make, subject, pattern, shorthands and parse", () => {
    const options = fc.oneof(notString, fc.record({ env: input, app: input }))
    countedRuns(fuzz(options, (o) => Namespace.make(o as never), (r) => {
      if (Result.isFailure(r)) typedError(r.failure)
      else expect(Subject.isSubject(r.success.prefix)).toBe(true)
    }))
    const kind = fc.oneof(fc.constantFrom(...Namespace.kinds), input)
    countedRuns(
      fuzz(fc.tuple(kind, input, input), ([k, a, b]) => billing.subject(k as never, a as string, b as string), checkResult(isSubject))
    )
    countedRuns(fuzz(fc.tuple(input, input), ([a, b]) => billing.event(a as string, b as string), checkResult(isSubject)))
    const parts = fc.oneof(notString, fc.record({ kind, aggregate: input, action: input }, { requiredKeys: [] }))
    countedRuns(fuzz(parts, (p) => billing.pattern(p as never), checkResult(isPattern)))
    countedRuns(fuzz(input, (u) => [Namespace.parse(u as string), billing.parse(u as string)], ([any, own]) => {
      if (Option.isSome(own)) expect(any).toStrictEqual(own)
    }))
  })

  it("OverlapGuard.checkResult and find", () => {
    const stream = fc.oneof(notString, fc.record({ name: input, subjects: fc.oneof(notString, fc.array(input, { maxLength: 4 })) }))
    const streams = fc.oneof(notString, fc.array(stream, { maxLength: 4 }))
    countedRuns(fuzz(streams, (s) => OverlapGuard.checkResult(s as never), (r) => {
      if (Result.isFailure(r)) typedError(r.failure)
    }))
    countedRuns(fuzz(streams, (s) => OverlapGuard.find(s as never), (found) => expect(Array.isArray(found)).toBe(true)))
  })

  it("SubjectTrie.match and has", () => {
    const trie = SubjectTrie.make<number>()
    trie.add(SubjectPattern.makeUnsafe(">"), 1)
    trie.add(SubjectPattern.makeUnsafe("a.*"), 2)
    countedRuns(fuzz(anyInput, (u) => [trie.match(u as string), trie.has(u as string)] as const, ([matched, has], u) => {
      expect(has).toBe(matched.length > 0)
      expect(has).toBe(Subject.isSubject(u))
    }))
  })
})
