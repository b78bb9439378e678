import { describe, expect, it } from "@effect/vitest"
import { IdentityError, IdGenerator, Ids, MessageIdentity } from "@herald/identity"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"

const failure = <A>(result: Result.Result<A, IdentityError.IdentityError>): IdentityError.IdentityError => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure
}

const valid: Record<string, unknown> = {
  "Herald-Message-Id": "m-2",
  "Herald-Correlation-Id": "m-1",
  "Herald-Causation-Id": "m-1"
}

// A lookup over a record that may hold anything, as a caller's own header map could.
const lookupOf = (headers: Record<string, unknown>) => (name: string) => headers[name] as string | undefined

describe("wrong-typed input is a typed error, never a throw", () => {
  it("fromHeaders: a header value that is not a string is MalformedId naming the header", () => {
    for (const bad of [42, true, {}, ["m-1"], Symbol("s"), 10n, () => "m-1"]) {
      const error = failure(MessageIdentity.fromHeaders(lookupOf({ ...valid, "Herald-Correlation-Id": bad })))
      expect(error.reason._tag).toBe("MalformedId")
      expect(error.reason.header).toBe("Herald-Correlation-Id")
      expect(error.isRetryable).toBe(false)
    }
    const error = failure(MessageIdentity.fromHeaders(lookupOf({ ...valid, "Herald-Message-Id": 7 })))
    expect({ ...error.reason }).toStrictEqual({
      ...new IdentityError.MalformedId({
        header: "Herald-Message-Id",
        value: "a number",
        message: "header Herald-Message-Id: a number is not a valid id (not a string)"
      })
    })
    // null is a value of the wrong type too, not an absent header
    expect(failure(MessageIdentity.fromHeaders(lookupOf({ ...valid, "Herald-Causation-Id": null }))).reason._tag).toBe(
      "MalformedId"
    )
  })

  it("fromHeaders and decodeHeaders: a lookup that is not a function finds no header", () => {
    for (const lookup of [undefined, null, {}, "Herald-Message-Id"]) {
      const error = failure(MessageIdentity.fromHeaders(lookup as never))
      expect(error.reason).toMatchObject({ _tag: "MissingHeader", header: "Herald-Message-Id" })
      const failed = Effect.runSync(Effect.flip(MessageIdentity.decodeHeaders(lookup as never)))
      expect(failed.reason._tag).toBe("MissingHeader")
    }
  })

  it("make: fields of the wrong type", () => {
    expect(failure(MessageIdentity.make(undefined as never)).message).toBe(
      "field messageId: undefined is not a valid id (not a string)"
    )
    const error = failure(MessageIdentity.make({ messageId: "m-1", correlationId: 5, causationId: "m-1" } as never))
    expect(error.reason).toMatchObject({ _tag: "MalformedId", header: "correlationId", value: "a number" })
  })

  it("id checks and UUIDv7 helpers take any value", () => {
    expect(Ids.idProblem(undefined as never)).toBe("not a string (undefined)")
    expect(Ids.isValidId(12)).toBe(false)
    expect(IdGenerator.isUuidV7(Symbol("s"))).toBe(false)
    expect(IdGenerator.unixMillis({} as never)).toStrictEqual(Option.none())
    expect(() => Ids.messageIdUnsafe(undefined as never)).toThrow("undefined is not a valid id (not a string (undefined))")
  })
})

describe("quoted input in messages is capped", () => {
  it("at 64 characters, with the length", () => {
    const huge = "x".repeat(5_000_000)
    const error = failure(MessageIdentity.fromHeaders(lookupOf({ ...valid, "Herald-Message-Id": huge })))
    expect(error.message).toBe(
      `header Herald-Message-Id: "${"x".repeat(64)}"…(5000000 chars) is not a valid id (too long (5000000 characters, at most 128))`
    )
    expect(() => Ids.messageIdUnsafe(huge)).toThrow(`"${"x".repeat(64)}"…(5000000 chars) is not a valid id`)
  })
})
