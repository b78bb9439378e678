import { describe, expect, it } from "@effect/vitest"
import { Subject, SubjectError, SubjectPattern } from "@herald/subject"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"

const reasonOf = <A>(result: Result.Result<A, SubjectError.SubjectError>): SubjectError.SubjectErrorReason => {
  if (Result.isSuccess(result)) throw new Error(`expected a failure, got ${String(result.success)}`)
  expect(SubjectError.isSubjectError(result.failure)).toBe(true)
  return result.failure.reason
}

const expectReason = <A>(
  result: Result.Result<A, SubjectError.SubjectError>,
  expected: SubjectError.SubjectErrorReason
): void => {
  const reason = reasonOf(result)
  expect(reason._tag).toBe(expected._tag)
  expect({ ...reason }).toStrictEqual({ ...expected })
  expect(reason.message).toBe(expected.message)
  if (Result.isFailure(result)) expect(result.failure.message).toBe(expected.message)
}

describe("Subject", () => {
  it("accepts valid subjects", () => {
    for (const s of ["a", "orders.created", "prod.billing.event.invoice.created", "a-b_c.D9.ü", "a{b}.c$"]) {
      const r = Subject.make(s)
      expect(Result.isSuccess(r)).toBe(true)
      expect(Subject.isSubject(s)).toBe(true)
    }
  })

  it("a subject with a space is a typed Whitespace error (acceptance)", () => {
    const r = Subject.make("orders. created")
    expectReason(r, new SubjectError.Whitespace({ input: "orders. created", position: 7 }))
    const reason = reasonOf(r)
    expect(reason.message).toBe(`subject "orders. created": whitespace at position 7`)
    expect(Subject.isSubject("orders. created")).toBe(false)
  })

  it("Empty", () => {
    expectReason(Subject.make(""), new SubjectError.Empty({ input: "" }))
    expect(reasonOf(Subject.make("")).message).toBe(`subject "": must not be empty`)
  })

  it("EmptyToken: leading, doubled and trailing dots with token index and position", () => {
    expectReason(Subject.make(".a"), new SubjectError.EmptyToken({ input: ".a", token: 0, position: 0 }))
    expectReason(Subject.make("a..b"), new SubjectError.EmptyToken({ input: "a..b", token: 1, position: 2 }))
    expectReason(Subject.make("ab.cd."), new SubjectError.EmptyToken({ input: "ab.cd.", token: 2, position: 6 }))
    expectReason(Subject.make("."), new SubjectError.EmptyToken({ input: ".", token: 0, position: 0 }))
    expect(reasonOf(Subject.make("a..b")).message).toBe(`subject "a..b": empty token 1 at position 2`)
  })

  it("Whitespace: space, tab, CR, LF and unicode spaces", () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      [" a", 0],
      ["a\tb", 1],
      ["a.b\r", 3],
      ["a.b\nc", 3],
      ["a.\u00a0", 2],
      ["ab.c\u2003d", 4],
      ["x.\ufeff", 2],
      ["a.\u000b", 2],
      ["a.\f", 2]
    ]
    for (const [input, position] of cases) {
      expectReason(Subject.make(input), new SubjectError.Whitespace({ input, position }))
    }
  })

  it("Whitespace wins over token rules; the first whitespace is reported", () => {
    expectReason(Subject.make("a..b c d"), new SubjectError.Whitespace({ input: "a..b c d", position: 4 }))
    expectReason(Subject.make("*.a b"), new SubjectError.Whitespace({ input: "*.a b", position: 3 }))
  })

  it("WildcardInSubject: any * or > in a concrete subject", () => {
    expectReason(Subject.make("orders.*"), new SubjectError.WildcardInSubject({ input: "orders.*", token: 1, position: 7 }))
    expectReason(Subject.make(">"), new SubjectError.WildcardInSubject({ input: ">", token: 0, position: 0 }))
    expectReason(Subject.make("a.b*c.d"), new SubjectError.WildcardInSubject({ input: "a.b*c.d", token: 1, position: 3 }))
    expectReason(Subject.make("a.bc>"), new SubjectError.WildcardInSubject({ input: "a.bc>", token: 1, position: 4 }))
    expect(reasonOf(Subject.make("orders.*")).message).toBe(
      `subject "orders.*": wildcard "*" in token 1 at position 7 is not allowed in a concrete subject`
    )
  })

  it("the first token breaking a token rule is reported", () => {
    expectReason(Subject.make("a.*..b"), new SubjectError.WildcardInSubject({ input: "a.*..b", token: 1, position: 2 }))
    expectReason(Subject.make("a..*"), new SubjectError.EmptyToken({ input: "a..*", token: 1, position: 2 }))
  })

  it("TooLong: more than 4096 characters", () => {
    const ok = "a".repeat(4096)
    expect(Result.isSuccess(Subject.make(ok))).toBe(true)
    const long = "a".repeat(4097)
    expectReason(Subject.make(long), new SubjectError.TooLong({ input: long, length: 4097, max: 4096 }))
    expect(Subject.maxLength).toBe(4096)
    expect(Subject.isSubject(long)).toBe(false)
  })

  it("decode fails the effect with the SubjectError", () => {
    const exit = Effect.runSyncExit(Subject.decode("a..b"))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Effect.runSync(Effect.flip(Subject.decode("a..b")))
    expect(error.reason._tag).toBe("EmptyToken")
    expect(Effect.runSync(Subject.decode("a.b"))).toBe("a.b")
  })

  it.effect("decode in Effect.gen", () =>
    Effect.gen(function*() {
      const s = yield* Subject.decode("orders.created")
      expect(s).toBe("orders.created")
      const error = yield* Effect.flip(Subject.decode("orders. created"))
      expect(error._tag).toBe("SubjectError")
      expect(error.reason._tag).toBe("Whitespace")
      expect(error.isRetryable).toBe(false)
    }))

  it("makeUnsafe returns the subject or throws the SubjectError", () => {
    expect(Subject.makeUnsafe("a.b")).toBe("a.b")
    let caught: unknown
    try {
      Subject.makeUnsafe("a.>")
    } catch (e) {
      caught = e
    }
    expect(SubjectError.isSubjectError(caught)).toBe(true)
    expect((caught as SubjectError.SubjectError).reason).toMatchObject({ _tag: "WildcardInSubject", token: 1, position: 2 })
  })

  it("the schema decodes and reports the reason message", () => {
    const decode = Schema.decodeUnknownResult(Subject.Subject)
    const ok = decode("a.b")
    expect(Result.isSuccess(ok) && ok.success).toBe("a.b")
    const bad = decode("orders. created")
    expect(Result.isFailure(bad)).toBe(true)
    if (Result.isFailure(bad)) expect(bad.failure.message).toBe(`subject "orders. created": whitespace at position 7`)
    const notString = decode(42)
    expect(Result.isFailure(notString)).toBe(true)
    expect(Schema.is(Subject.Subject)("a.b")).toBe(true)
    expect(Schema.is(Subject.Subject)("a.*")).toBe(false)
  })

  it("tokens and join", () => {
    expect(Subject.tokens(Subject.makeUnsafe("a.bb.c"))).toStrictEqual(["a", "bb", "c"])
    const prefix = Subject.makeUnsafe("prod.billing")
    const joined = Subject.join(prefix, "invoice", "created")
    expect(Result.isSuccess(joined) && joined.success).toBe("prod.billing.invoice.created")
    expectReason(
      Subject.join(prefix, "", "created"),
      new SubjectError.EmptyToken({ input: "prod.billing..created", token: 2, position: 13 })
    )
    expectReason(
      Subject.join("a", "b c"),
      new SubjectError.Whitespace({ input: "a.b c", position: 3 })
    )
    expect(Subject.joinUnsafe("a", "b")).toBe("a.b")
  })

  it("SubjectError guards and retryability", () => {
    const error = reasonOf(Subject.make(""))
    expect(SubjectError.isSubjectErrorReason(error)).toBe(true)
    expect(SubjectError.isSubjectError(error)).toBe(false)
    expect(error.isRetryable).toBe(false)
    const top = SubjectError.fromReason(error)
    expect(top.isRetryable).toBe(false)
    expect(top.cause).toBe(error)
    expect(top).toBeInstanceOf(Error)
  })
})

describe("SubjectPattern validation", () => {
  it("accepts valid patterns", () => {
    for (const p of ["a", "*", ">", "a.*", "a.>", "*.*.>", "orders.*.created", "a.b.c"]) {
      expect(Result.isSuccess(SubjectPattern.make(p))).toBe(true)
      expect(SubjectPattern.isSubjectPattern(p)).toBe(true)
    }
  })

  it("PartialWildcard: a wildcard that is not a whole token", () => {
    expectReason(SubjectPattern.make("a.b*"), new SubjectError.PartialWildcard({ input: "a.b*", token: 1, position: 3 }))
    expectReason(SubjectPattern.make("*a"), new SubjectError.PartialWildcard({ input: "*a", token: 0, position: 0 }))
    expectReason(SubjectPattern.make("a.>b"), new SubjectError.PartialWildcard({ input: "a.>b", token: 1, position: 2 }))
    expectReason(SubjectPattern.make("a.**"), new SubjectError.PartialWildcard({ input: "a.**", token: 1, position: 2 }))
    expectReason(SubjectPattern.make("a.x*>"), new SubjectError.PartialWildcard({ input: "a.x*>", token: 1, position: 3 }))
    expect(reasonOf(SubjectPattern.make("a.b*")).message).toBe(
      `subject "a.b*": wildcard "*" at position 3 must be a whole token (token 1)`
    )
  })

  it("FullWildcardNotLast", () => {
    expectReason(SubjectPattern.make(">.a"), new SubjectError.FullWildcardNotLast({ input: ">.a", token: 0, position: 0 }))
    expectReason(
      SubjectPattern.make("a.>.b.c"),
      new SubjectError.FullWildcardNotLast({ input: "a.>.b.c", token: 1, position: 2 })
    )
    expect(reasonOf(SubjectPattern.make(">.a")).message).toBe(
      `subject ">.a": ">" at position 0 (token 0) must be the last token`
    )
  })

  it("shares Empty, EmptyToken, Whitespace and TooLong with subjects", () => {
    expectReason(SubjectPattern.make(""), new SubjectError.Empty({ input: "" }))
    expectReason(SubjectPattern.make("*..>"), new SubjectError.EmptyToken({ input: "*..>", token: 1, position: 2 }))
    expectReason(SubjectPattern.make("a.*."), new SubjectError.EmptyToken({ input: "a.*.", token: 2, position: 4 }))
    // token rules are applied token by token: the ">" (token 1) is reported before the empty token 2
    expectReason(SubjectPattern.make("a.>."), new SubjectError.FullWildcardNotLast({ input: "a.>.", token: 1, position: 2 }))
    expectReason(SubjectPattern.make("a.* "), new SubjectError.Whitespace({ input: "a.* ", position: 3 }))
    const long = "*.".repeat(2049).slice(0, -1)
    expect(long.length).toBe(4097)
    expectReason(SubjectPattern.make(long), new SubjectError.TooLong({ input: long, length: 4097, max: 4096 }))
  })

  it("schema, decode, makeUnsafe, tokens, isWildcard, fromSubject", () => {
    const bad = Schema.decodeUnknownResult(SubjectPattern.SubjectPattern)("a.>.b")
    expect(Result.isFailure(bad) && bad.failure.message).toBe(
      `subject "a.>.b": ">" at position 2 (token 1) must be the last token`
    )
    expect(Effect.runSync(SubjectPattern.decode("a.*"))).toBe("a.*")
    expect(Effect.runSync(Effect.flip(SubjectPattern.decode("a*"))).reason._tag).toBe("PartialWildcard")
    expect(() => SubjectPattern.makeUnsafe("a b")).toThrow(`subject "a b": whitespace at position 1`)
    expect(SubjectPattern.tokens(SubjectPattern.makeUnsafe("a.*.>"))).toStrictEqual(["a", "*", ">"])
    expect(SubjectPattern.isWildcard(SubjectPattern.makeUnsafe("a.*"))).toBe(true)
    expect(SubjectPattern.isWildcard(SubjectPattern.makeUnsafe(">"))).toBe(true)
    expect(SubjectPattern.isWildcard(SubjectPattern.makeUnsafe("a.b"))).toBe(false)
    const p = SubjectPattern.fromSubject(Subject.makeUnsafe("a.b"))
    expect(p).toBe("a.b")
    expect(SubjectPattern.matches(p, "a.b")).toBe(true)
  })
})

// An independent, split-based reference of the validation rules and their priority.
const referenceReason = (input: string, pattern: boolean): SubjectError.SubjectErrorReason | undefined => {
  if (input === "") return new SubjectError.Empty({ input })
  if (input.length > 4096) return new SubjectError.TooLong({ input, length: input.length, max: 4096 })
  const bad = input.search(/[\s\u0000-\u001f]/)
  if (bad >= 0) {
    return /\s/.test(input.charAt(bad))
      ? new SubjectError.Whitespace({ input, position: bad })
      : new SubjectError.ControlCharacter({ input, position: bad })
  }
  const parts = input.split(".")
  let pos = 0
  for (let token = 0; token < parts.length; token++) {
    const part = parts[token]!
    if (part === "") return new SubjectError.EmptyToken({ input, token, position: pos })
    const w = part.search(/[*>]/)
    if (w >= 0) {
      if (!pattern) return new SubjectError.WildcardInSubject({ input, token, position: pos + w })
      if (part.length > 1) return new SubjectError.PartialWildcard({ input, token, position: pos + w })
      if (part === ">" && token < parts.length - 1) {
        return new SubjectError.FullWildcardNotLast({ input, token, position: pos })
      }
    }
    pos += part.length + 1
  }
  return undefined
}

describe("validation (property)", () => {
  const input = fc.string({
    unit: fc.constantFrom("a", "b", ".", "*", ">", " ", "\t", "\n", "\u00a0", "é", "\u0000", "\u0001", "\u001b", "\u001f"),
    maxLength: 12
  })

  it("Subject.make agrees with the reference", () => {
    fc.assert(
      fc.property(input, (s) => {
        const expected = referenceReason(s, false)
        const r = Subject.make(s)
        if (expected === undefined) {
          expect(Result.isSuccess(r)).toBe(true)
          expect(Subject.isSubject(s)).toBe(true)
        } else {
          expect({ ...reasonOf(r) }).toStrictEqual({ ...expected })
          expect(Subject.isSubject(s)).toBe(false)
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("SubjectPattern.make agrees with the reference", () => {
    fc.assert(
      fc.property(input, (s) => {
        const expected = referenceReason(s, true)
        const r = SubjectPattern.make(s)
        if (expected === undefined) expect(Result.isSuccess(r)).toBe(true)
        else expect({ ...reasonOf(r) }).toStrictEqual({ ...expected })
      }),
      { numRuns: 2000 }
    )
  })

  it("every subject is a pattern", () => {
    fc.assert(
      fc.property(input, (s) => {
        if (Subject.isSubject(s)) expect(SubjectPattern.isSubjectPattern(s)).toBe(true)
      }),
      { numRuns: 1000 }
    )
  })
})
