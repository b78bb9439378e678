import { describe, expect, it } from "@effect/vitest"
import { IdentityError } from "@herald/identity"
import { Effect, Schema } from "effect"

describe("IdentityError", () => {
  it("MissingHeader explains itself and is not retryable", () => {
    const reason = new IdentityError.MissingHeader({ header: "Herald-Message-Id" })
    expect(reason._tag).toBe("MissingHeader")
    expect(reason.message).toBe("header Herald-Message-Id is missing")
    expect(reason.isRetryable).toBe(false)
    expect(IdentityError.isIdentityErrorReason(reason)).toBe(true)
    expect(IdentityError.isIdentityError(reason)).toBe(false)
  })

  it("malformedIdReason builds the message for headers and fields", () => {
    const header = IdentityError.malformedIdReason("Herald-Causation-Id", "a b")
    expect(header._tag).toBe("MalformedId")
    expect(header.header).toBe("Herald-Causation-Id")
    expect(header.value).toBe("a b")
    expect(header.message).toBe("header Herald-Causation-Id: \"a b\" is not a valid id (whitespace at 1)")
    expect(header.isRetryable).toBe(false)
    const field = IdentityError.malformedIdReason("messageId", "x\ty", { source: "field" })
    expect(field.message).toBe("field messageId: \"x\\ty\" is not a valid id (whitespace at 1)")
    const custom = IdentityError.malformedIdReason("Nats-Msg-Id", "dup", { problem: "already used" })
    expect(custom.message).toBe("header Nats-Msg-Id: \"dup\" is not a valid id (already used)")
  })

  it("IdentityError delegates message, isRetryable and cause to its reason", () => {
    const error = IdentityError.missingHeader("Herald-Correlation-Id")
    expect(error._tag).toBe("IdentityError")
    expect(error.reason._tag).toBe("MissingHeader")
    expect(error.message).toBe("header Herald-Correlation-Id is missing")
    expect(error.isRetryable).toBe(false)
    expect(error.cause).toBe(error.reason)
    expect(error).toBeInstanceOf(Error)
    expect(IdentityError.isIdentityError(error)).toBe(true)
    expect(IdentityError.isIdentityError(new Error("x"))).toBe(false)

    const malformed = IdentityError.malformedId("Herald-Message-Id", "caf\u00e9")
    expect(malformed.message).toBe(
      "header Herald-Message-Id: \"caf\u00e9\" is not a valid id (non-ASCII character U+00E9 at 3)"
    )
  })

  it.effect("is a yieldable error that catchTag can handle", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        return yield* IdentityError.missingHeader("Herald-Message-Id")
      })
      const handled = yield* program.pipe(
        Effect.catchTag("IdentityError", (e) => Effect.succeed(`${e.reason._tag}: ${e.reason.header}`))
      )
      expect(handled).toBe("MissingHeader: Herald-Message-Id")
    }))

  it("round trips through its schema", () => {
    for (
      const error of [
        IdentityError.missingHeader("Herald-Message-Id"),
        IdentityError.malformedId("Herald-Causation-Id", "a b")
      ]
    ) {
      const encoded = Schema.encodeSync(IdentityError.IdentityError)(error)
      const decoded = Schema.decodeUnknownSync(IdentityError.IdentityError)(encoded)
      expect(decoded).toBeInstanceOf(IdentityError.IdentityError)
      expect(decoded.reason._tag).toBe(error.reason._tag)
      expect(decoded.message).toBe(error.message)
    }
  })
})
