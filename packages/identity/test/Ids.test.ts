import { describe, expect, it } from "@effect/vitest"
import { CausationId, CorrelationId, Ids, MessageId } from "@herald/identity"
import { Effect, Result, Schema } from "effect"

describe("Ids", () => {
  it("isValidId accepts 1..128 printable ASCII characters without whitespace", () => {
    expect(Ids.isValidId("a")).toBe(true)
    expect(Ids.isValidId("!~")).toBe(true)
    expect(Ids.isValidId("0190b1e2-7a3c-7def-8123-456789abcdef")).toBe(true)
    expect(Ids.isValidId("x".repeat(128))).toBe(true)
    expect(Ids.isValidId("")).toBe(false)
    expect(Ids.isValidId("x".repeat(129))).toBe(false)
    expect(Ids.isValidId("a b")).toBe(false)
    expect(Ids.isValidId("a\tb")).toBe(false)
    expect(Ids.isValidId("a\nb")).toBe(false)
    expect(Ids.isValidId("caf\u00e9")).toBe(false)
    expect(Ids.isValidId("a\u0007")).toBe(false)
    expect(Ids.isValidId("a\u007f")).toBe(false)
    expect(Ids.isValidId("\u{1F600}")).toBe(false)
  })

  it("idProblem names the first problem", () => {
    expect(Ids.idProblem("ok-1")).toBeUndefined()
    expect(Ids.idProblem("")).toBe("empty")
    expect(Ids.idProblem("x".repeat(129))).toBe("too long (129 characters, at most 128)")
    expect(Ids.idProblem("a b")).toBe("whitespace at 1")
    expect(Ids.idProblem(" ab")).toBe("whitespace at 0")
    expect(Ids.idProblem("ab\u00a0")).toBe("whitespace at 2")
    expect(Ids.idProblem("caf\u00e9")).toBe("non-ASCII character U+00E9 at 3")
    expect(Ids.idProblem("a\u{1F600}")).toBe("non-ASCII character U+1F600 at 1")
    expect(Ids.idProblem("\u0007x")).toBe("control character U+0007 at 0")
    expect(Ids.idProblem("x\u007f")).toBe("control character U+007F at 1")
  })

  it("isValidId agrees with idProblem on every single character", () => {
    for (let code = 0; code < 0x3100; code++) {
      const s = String.fromCharCode(code)
      expect(Ids.isValidId(s)).toBe(Ids.idProblem(s) === undefined)
      expect(Ids.isValidId(s)).toBe(code >= 0x21 && code <= 0x7e)
    }
  })

  it("the branded schemas decode valid ids and reject invalid ones", () => {
    for (const schema of [MessageId, CorrelationId, CausationId]) {
      const decode = Schema.decodeUnknownResult(schema)
      expect(Result.getOrThrow(decode("abc-123"))).toBe("abc-123")
      expect(Result.isFailure(decode(""))).toBe(true)
      expect(Result.isFailure(decode("a b"))).toBe(true)
      expect(Result.isFailure(decode("x".repeat(129)))).toBe(true)
      expect(Result.isFailure(decode(42))).toBe(true)
      expect(Schema.is(schema)("abc")).toBe(true)
      expect(Schema.is(schema)("ab c")).toBe(false)
    }
  })

  it("schema failures carry the problem text", () => {
    const result = Schema.decodeUnknownResult(MessageId)("a b")
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) {
      expect(result.failure.message).toContain("whitespace at 1")
    }
  })

  it.effect("decodeUnknownEffect fails for an invalid id", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Schema.decodeUnknownEffect(CausationId)("caf\u00e9"))
      expect(error.message).toContain("non-ASCII character U+00E9 at 3")
    }))

  it("conversions keep the string", () => {
    const id = Ids.messageIdUnsafe("m-1")
    expect(Ids.toCorrelationId(id)).toBe("m-1")
    expect(Ids.toCausationId(id)).toBe("m-1")
    expect(Ids.causationToMessageId(Ids.toCausationId(id))).toBe("m-1")
    expect(() => Ids.messageIdUnsafe("m 1")).toThrow("\"m 1\" is not a valid id (whitespace at 1)")
  })
})
