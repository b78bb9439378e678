import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope } from "@herald/transport"
import * as Result from "effect/Result"

const good = Envelope.make({
  identity: MessageIdentity.derive(MessageIdentity.root(IdGenerator.testId(1)), IdGenerator.testId(2)),
  type: "OrderPlaced",
  kind: "event",
  occurredAt: Date.UTC(2024, 4, 17, 10, 30, 0, 123),
  body: new TextEncoder().encode("{}"),
  headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-Note": "a\tb" }
})

const withIdentity = (fields: Record<string, unknown>) => ({ ...good, identity: { ...good.identity, ...fields } })

/** A value, and the field its error must name. */
const bad: ReadonlyArray<readonly [string, unknown, string]> = [
  ["undefined", undefined, "envelope"],
  ["null", null, "envelope"],
  ["a string", "envelope", "envelope"],
  ["an array", [good], "envelope"],
  ["an empty object", {}, "identity"],
  ["identity missing", { ...good, identity: undefined }, "identity"],
  ["messageId empty", withIdentity({ messageId: "" }), "identity.messageId"],
  ["messageId with a space", withIdentity({ messageId: "m 1" }), "identity.messageId"],
  ["messageId a number", withIdentity({ messageId: 42 }), "identity.messageId"],
  ["messageId too long", withIdentity({ messageId: "m".repeat(129) }), "identity.messageId"],
  ["correlationId with NUL", withIdentity({ correlationId: "c\u0000" }), "identity.correlationId"],
  ["causationId missing", withIdentity({ causationId: undefined }), "identity.causationId"],
  ["type empty", { ...good, type: "" }, "type"],
  ["type with a line break", { ...good, type: "Order\nPlaced" }, "type"],
  ["type with NUL", { ...good, type: "Order\u0000" }, "type"],
  ["type not a string", { ...good, type: 7 }, "type"],
  ["kind unknown", { ...good, kind: "notice" }, "kind"],
  ["occurredAt a string", { ...good, occurredAt: "2024-05-17" }, "occurredAt"],
  ["occurredAt NaN", { ...good, occurredAt: Number.NaN }, "occurredAt"],
  ["occurredAt infinite", { ...good, occurredAt: Number.POSITIVE_INFINITY }, "occurredAt"],
  ["occurredAt outside Date's range", { ...good, occurredAt: 1e20 }, "occurredAt"],
  ["occurredAt fractional", { ...good, occurredAt: 1.5 }, "occurredAt"],
  ["contentType empty", { ...good, contentType: "" }, "contentType"],
  ["contentType missing", { ...good, contentType: undefined }, "contentType"],
  ["headers null", { ...good, headers: null }, "headers"],
  ["header name with a space", { ...good, headers: { "x y": "1" } }, "headers"],
  ["header name empty", { ...good, headers: { "": "1" } }, "headers"],
  ["header value a number", { ...good, headers: { "x-n": 1 } }, "headers.x-n"],
  ["header value with CR LF", { ...good, headers: { "x-n": "a\r\nb" } }, "headers.x-n"],
  ["header value with NUL", { ...good, headers: { "x-n": "a\u0000" } }, "headers.x-n"],
  ["body a string", { ...good, body: "{\"n\":1}" }, "body"],
  ["body an array of numbers", { ...good, body: [123, 125] }, "body"],
  ["body missing", { ...good, body: undefined }, "body"]
]

describe("Envelope.validate / isEnvelope", () => {
  it("accepts a well-formed envelope (and a Buffer body, a tab in a header value) and returns it", () => {
    expect(Result.getOrThrow(Envelope.validate(good))).toBe(good)
    expect(Envelope.isEnvelope(good)).toBe(true)
    expect(Envelope.isEnvelope({ ...good, body: Buffer.from("{}") })).toBe(true)
  })

  for (const [name, value, field] of bad) {
    it(`${name}: InvalidEnvelope naming ${field}`, () => {
      const result = Envelope.validate(value)
      expect(Result.isFailure(result)).toBe(true)
      const error = Result.getFailure(result)
      if (error._tag === "None") throw new Error("no failure")
      const reason = error.value.reason
      expect(reason._tag).toBe("InvalidEnvelope")
      if (reason._tag !== "InvalidEnvelope") return
      expect(reason.field).toBe(field)
      expect(error.value.isRetryable).toBe(false)
      expect(error.value.message).toContain(`invalid envelope: ${field}:`)
      expect(Envelope.isEnvelope(value)).toBe(false)
    })
  }

  it("quotes at most 64 characters of a bad value", () => {
    const huge = "x".repeat(1_000_000) + " "
    const result = Envelope.validate(withIdentity({ messageId: huge }))
    const error = Result.getFailure(result)
    if (error._tag === "None") throw new Error("no failure")
    expect(error.value.message.length).toBeLessThan(300)
  })
})
