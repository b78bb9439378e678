import { describe, expect, it } from "@effect/vitest"
import { IdentityError, IdGenerator, Ids, MessageIdentity } from "@herald/identity"
import { Effect, Equal, Result, Schema } from "effect"
import * as fc from "fast-check"

const id = Ids.messageIdUnsafe
const { HeaderNames } = MessageIdentity

const arbId = fc.stringMatching(/^[!-~]{1,128}$/).map(Ids.messageIdUnsafe)

const lookupOf = (headers: Record<string, string>) => (name: string): string | undefined => headers[name]

const validHeaders = {
  "Herald-Message-Id": "m-2",
  "Herald-Correlation-Id": "m-1",
  "Herald-Causation-Id": "m-1"
}

const expectFailure = <A>(result: Result.Result<A, IdentityError.IdentityError>): IdentityError.IdentityError => {
  if (Result.isSuccess(result)) {
    throw new Error(`expected a failure, got ${String(result.success)}`)
  }
  return result.failure
}

describe("MessageIdentity", () => {
  describe("root / derive / isRoot", () => {
    it("root uses the id for all three fields", () => {
      const r = MessageIdentity.root(id("m-1"))
      expect(r.messageId).toBe("m-1")
      expect(r.correlationId).toBe("m-1")
      expect(r.causationId).toBe("m-1")
      expect(MessageIdentity.isRoot(r)).toBe(true)
    })

    it("derive keeps the correlation and points at the parent", () => {
      const r = MessageIdentity.root(id("m-1"))
      const c = MessageIdentity.derive(r, id("m-2"))
      const g = MessageIdentity.derive(c, id("m-3"))
      expect({ ...c }).toEqual({ messageId: "m-2", correlationId: "m-1", causationId: "m-1" })
      expect({ ...g }).toEqual({ messageId: "m-3", correlationId: "m-1", causationId: "m-2" })
      expect(MessageIdentity.isRoot(c)).toBe(false)
      expect(MessageIdentity.isRoot(g)).toBe(false)
      expect(MessageIdentity.isCausedBy(c, r)).toBe(true)
      expect(MessageIdentity.isCausedBy(g, c)).toBe(true)
      expect(MessageIdentity.isCausedBy(g, r)).toBe(false)
    })

    it("laws hold for arbitrary ids", () => {
      fc.assert(fc.property(arbId, arbId, arbId, (a, b, c) => {
        const r = MessageIdentity.root(a)
        expect(MessageIdentity.isRoot(r)).toBe(true)
        const d1 = MessageIdentity.derive(r, b)
        const d2 = MessageIdentity.derive(d1, c)
        expect(d1.correlationId).toBe(a)
        expect(d2.correlationId).toBe(a)
        expect(d1.causationId).toBe(a)
        expect(d2.causationId).toBe(b)
        expect(d2.messageId).toBe(c)
        expect(MessageIdentity.isRoot(d1)).toBe(b === a)
        expect(MessageIdentity.isRoot(d2)).toBe(c === b)
      }))
    })

    it("identities compare structurally", () => {
      const a = MessageIdentity.derive(MessageIdentity.root(id("r")), id("x"))
      const b = MessageIdentity.derive(MessageIdentity.root(id("r")), id("x"))
      const c = MessageIdentity.derive(MessageIdentity.root(id("r")), id("y"))
      expect(Equal.equals(a, b)).toBe(true)
      expect(Equal.equals(a, c)).toBe(false)
    })

    it.effect("makeRoot and makeDerived use the IdGenerator", () =>
      Effect.gen(function*() {
        const r = yield* MessageIdentity.makeRoot
        const c = yield* MessageIdentity.makeDerived(r)
        expect({ ...r }).toEqual({
          messageId: "00000000-0000-7000-8000-000000000001",
          correlationId: "00000000-0000-7000-8000-000000000001",
          causationId: "00000000-0000-7000-8000-000000000001"
        })
        expect({ ...c }).toEqual({
          messageId: "00000000-0000-7000-8000-000000000002",
          correlationId: "00000000-0000-7000-8000-000000000001",
          causationId: "00000000-0000-7000-8000-000000000001"
        })
      }).pipe(Effect.provide(IdGenerator.layerTest)))
  })

  describe("headers", () => {
    it("header names", () => {
      expect(HeaderNames).toEqual({
        messageId: "Herald-Message-Id",
        correlationId: "Herald-Correlation-Id",
        causationId: "Herald-Causation-Id"
      })
    })

    it("toHeaders writes three headers", () => {
      const c = MessageIdentity.derive(MessageIdentity.root(id("m-1")), id("m-2"))
      expect(MessageIdentity.toHeaders(c)).toEqual(validHeaders)
    })

    it("toHeaders / fromHeaders round trip", () => {
      fc.assert(fc.property(arbId, arbId, arbId, (a, b, c) => {
        const identity = MessageIdentity.derive(MessageIdentity.derive(MessageIdentity.root(a), b), c)
        const back = MessageIdentity.fromHeaders(lookupOf(MessageIdentity.toHeaders(identity)))
        expect(Result.isSuccess(back)).toBe(true)
        expect(Equal.equals(Result.getOrThrow(back), identity)).toBe(true)
      }))
    })

    it.effect("decodeHeaders succeeds for valid headers", () =>
      Effect.gen(function*() {
        const identity = yield* MessageIdentity.decodeHeaders(lookupOf(validHeaders))
        expect(identity).toBeInstanceOf(MessageIdentity.MessageIdentity)
        expect({ ...identity }).toEqual({ messageId: "m-2", correlationId: "m-1", causationId: "m-1" })
      }))

    for (const header of Object.values(HeaderNames)) {
      it.effect(`a missing ${header} is MissingHeader`, () =>
        Effect.gen(function*() {
          const headers: Record<string, string> = { ...validHeaders }
          delete headers[header]
          const error = yield* Effect.flip(MessageIdentity.decodeHeaders(lookupOf(headers)))
          expect(error._tag).toBe("IdentityError")
          expect(error.reason._tag).toBe("MissingHeader")
          expect(error.reason.header).toBe(header)
          expect(error.message).toBe(`header ${header} is missing`)
          expect(error.isRetryable).toBe(false)
          expect(IdentityError.isIdentityError(error)).toBe(true)
        }))

      it(`an empty ${header} is MissingHeader`, () => {
        const error = expectFailure(MessageIdentity.fromHeaders(lookupOf({ ...validHeaders, [header]: "" })))
        expect(error.reason._tag).toBe("MissingHeader")
        expect(error.reason.header).toBe(header)
      })
    }

    it.effect("a value with a space is MalformedId", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          MessageIdentity.decodeHeaders(lookupOf({ ...validHeaders, "Herald-Causation-Id": "a b" }))
        )
        expect(error.reason._tag).toBe("MalformedId")
        if (error.reason._tag === "MalformedId") {
          expect(error.reason.header).toBe("Herald-Causation-Id")
          expect(error.reason.value).toBe("a b")
        }
        expect(error.message).toBe("header Herald-Causation-Id: \"a b\" is not a valid id (whitespace at 1)")
        expect(error.isRetryable).toBe(false)
        expect(error.reason.isRetryable).toBe(false)
      }))

    it("a value over 128 characters is MalformedId", () => {
      const long = "x".repeat(129)
      const error = expectFailure(MessageIdentity.fromHeaders(lookupOf({ ...validHeaders, "Herald-Message-Id": long })))
      expect(error.reason._tag).toBe("MalformedId")
      expect(error.reason.header).toBe("Herald-Message-Id")
      expect(error.message).toBe(
        `header Herald-Message-Id: "${"x".repeat(64)}"…(129 chars) is not a valid id (too long (129 characters, at most 128))`
      )
    })

    it("a non-ASCII value is MalformedId", () => {
      const error = expectFailure(
        MessageIdentity.fromHeaders(lookupOf({ ...validHeaders, "Herald-Correlation-Id": "caf\u00e9" }))
      )
      expect(error.reason._tag).toBe("MalformedId")
      expect(error.reason.header).toBe("Herald-Correlation-Id")
      expect(error.message).toBe(
        "header Herald-Correlation-Id: \"caf\u00e9\" is not a valid id (non-ASCII character U+00E9 at 3)"
      )
    })

    it("a whitespace-only value is MalformedId, not MissingHeader", () => {
      const error = expectFailure(MessageIdentity.fromHeaders(lookupOf({ ...validHeaders, "Herald-Message-Id": " " })))
      expect(error.reason._tag).toBe("MalformedId")
    })

    it("the first bad header in order message, correlation, causation is reported", () => {
      const error = expectFailure(MessageIdentity.fromHeaders(lookupOf({
        "Herald-Correlation-Id": "bad value",
        "Herald-Causation-Id": ""
      })))
      expect(error.reason._tag).toBe("MissingHeader")
      expect(error.reason.header).toBe("Herald-Message-Id")
      const error2 = expectFailure(MessageIdentity.fromHeaders(lookupOf({
        "Herald-Message-Id": "ok",
        "Herald-Correlation-Id": "bad value"
      })))
      expect(error2.reason._tag).toBe("MalformedId")
      expect(error2.reason.header).toBe("Herald-Correlation-Id")
    })

    it("fromHeaders never throws on arbitrary header values", () => {
      fc.assert(fc.property(
        fc.option(fc.string({ unit: "grapheme", maxLength: 200 })),
        fc.option(fc.string({ maxLength: 200 })),
        fc.option(fc.string({ unit: "binary", maxLength: 200 })),
        (m, c, k) => {
          const headers: Record<string, string> = {}
          if (m !== null) headers["Herald-Message-Id"] = m
          if (c !== null) headers["Herald-Correlation-Id"] = c
          if (k !== null) headers["Herald-Causation-Id"] = k
          const result = MessageIdentity.fromHeaders(lookupOf(headers))
          const allValid = [m, c, k].every((v) => v !== null && Ids.isValidId(v))
          expect(Result.isSuccess(result)).toBe(allValid)
        }
      ))
    })
  })

  describe("make", () => {
    it("validates three raw strings", () => {
      const ok = MessageIdentity.make({ messageId: "m-2", correlationId: "m-1", causationId: "m-1" })
      expect(Result.isSuccess(ok)).toBe(true)
      expect({ ...Result.getOrThrow(ok) }).toEqual({ messageId: "m-2", correlationId: "m-1", causationId: "m-1" })

      const bad = expectFailure(MessageIdentity.make({ messageId: "m-2", correlationId: "m 1", causationId: "m-1" }))
      expect(bad.reason._tag).toBe("MalformedId")
      expect(bad.reason.header).toBe("correlationId")
      expect(bad.message).toBe("field correlationId: \"m 1\" is not a valid id (whitespace at 1)")

      const empty = expectFailure(MessageIdentity.make({ messageId: "", correlationId: "m-1", causationId: "m-1" }))
      expect(empty.reason._tag).toBe("MalformedId")
      expect(empty.message).toBe("field messageId: \"\" is not a valid id (empty)")
    })

    it("the class constructor rejects invalid ids", () => {
      expect(() =>
        new MessageIdentity.MessageIdentity({
          messageId: "a b" as Ids.MessageId,
          correlationId: "c" as Ids.CorrelationId,
          causationId: "c" as Ids.CausationId
        })
      ).toThrow()
    })
  })

  describe("schema", () => {
    it("encodes to and decodes from a plain object", () => {
      const identity = MessageIdentity.derive(MessageIdentity.root(id("m-1")), id("m-2"))
      const encoded = Schema.encodeSync(MessageIdentity.MessageIdentity)(identity)
      expect(encoded).toEqual({ messageId: "m-2", correlationId: "m-1", causationId: "m-1" })
      const decoded = Schema.decodeUnknownSync(MessageIdentity.MessageIdentity)(encoded)
      expect(Equal.equals(decoded, identity)).toBe(true)
      expect(Result.isFailure(
        Schema.decodeUnknownResult(MessageIdentity.MessageIdentity)({ ...encoded, causationId: "" })
      )).toBe(true)
    })
  })
})
