import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Codec, Envelope, Message, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as TestClock from "effect/testing/TestClock"

const OrderPlaced = Message.event("OrderPlaced", Schema.Struct({ orderId: Schema.String, amount: Schema.Number }))
const ShipOrder = Message.command("ShipOrder", Schema.Struct({ orderId: Schema.String }))

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const identity = MessageIdentity.root(IdGenerator.testId(7))

const withBody = (envelope: Envelope.Envelope, body: string): Envelope.Envelope => ({
  ...envelope,
  body: encoder.encode(body)
})

const decodeFailure = (envelope: Envelope.Envelope) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(OrderPlaced.decode(envelope))
    expect(TransportError.isTransportError(error)).toBe(true)
    expect(error.reason._tag).toBe("DecodeError")
    expect(error.isRetryable).toBe(false)
    return error
  })

describe("Message", () => {
  it("a definition holds its type, kind, schema and codec", () => {
    expect(OrderPlaced.type).toBe("OrderPlaced")
    expect(OrderPlaced.kind).toBe("event")
    expect(ShipOrder.kind).toBe("command")
    expect(Message.query("Q", Schema.String).kind).toBe("query")
    expect(Message.reply("R", Schema.String).kind).toBe("reply")
    expect(OrderPlaced.codec).toBe(Codec.json)
  })

  it.effect("make then decode gives the payload back", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const envelope = yield* OrderPlaced.make({ orderId: "o-1", amount: 42.5 }, {
        identity,
        headers: { traceparent: "t" }
      })
      expect(envelope.type).toBe("OrderPlaced")
      expect(envelope.kind).toBe("event")
      expect(envelope.contentType).toBe("application/json")
      expect(envelope.occurredAt).toBe(1_700_000_000_000)
      expect(envelope.headers).toEqual({ traceparent: "t" })
      expect(envelope.identity).toBe(identity)
      expect(JSON.parse(decoder.decode(envelope.body))).toEqual({ orderId: "o-1", amount: 42.5 })
      expect(yield* OrderPlaced.decode(envelope)).toEqual({ orderId: "o-1", amount: 42.5 })
    }))

  it.effect("make keeps an explicit occurredAt", () =>
    Effect.gen(function*() {
      const envelope = yield* OrderPlaced.make({ orderId: "o-1", amount: 1 }, { identity, occurredAt: 5 })
      expect(envelope.occurredAt).toBe(5)
    }))

  it.effect("a payload that does not match its Schema is an EncodeError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(OrderPlaced.make({ orderId: "o-1", amount: "ten" } as never, { identity }))
      expect(error.reason._tag).toBe("EncodeError")
      expect(error.message).toContain("OrderPlaced")
    }))

  it.effect("a Schema whose encoding is asynchronous encodes, and its failure is an EncodeError", () =>
    Effect.gen(function*() {
      // An encode that does not finish at once: `make` cannot read its result eagerly.
      const Slow = Message.event(
        "Slow",
        Schema.String.pipe(Schema.decodeTo(
          Schema.String,
          SchemaTransformation.transformEffect({
            decode: (s) => Effect.succeed(s),
            encode: (s, options) =>
              Effect.flatMap(
                Effect.yieldNow,
                () =>
                  s === "bad"
                    ? Effect.fail(new SchemaIssue.InvalidValue({ message: "bad value" }, s, options))
                    : Effect.succeed(s.toUpperCase())
              )
          })
        ))
      )
      yield* TestClock.setTime(9_000)
      const envelope = yield* Slow.make("ok", { identity })
      expect(JSON.parse(decoder.decode(envelope.body))).toBe("OK")
      expect(envelope.occurredAt).toBe(9_000)
      const error = yield* Effect.flip(Slow.make("bad", { identity }))
      expect(error.reason._tag).toBe("EncodeError")
      expect(error.message).toContain("Slow")
      expect(error.message).toContain("bad value")
    }))

  it.effect("a body that does not match the Schema is a DecodeError", () =>
    Effect.gen(function*() {
      const envelope = yield* OrderPlaced.make({ orderId: "o-1", amount: 1 }, { identity })
      const error = yield* decodeFailure(withBody(envelope, JSON.stringify({ orderId: "o-1", amount: "ten" })))
      expect(error.message).toContain("OrderPlaced")
      expect(error.message).toContain("amount")
      const missing = yield* decodeFailure(withBody(envelope, JSON.stringify({ orderId: "o-1" })))
      expect(missing.message).toContain("amount")
    }))

  it.effect("a body that is not JSON is a DecodeError", () =>
    Effect.gen(function*() {
      const envelope = yield* OrderPlaced.make({ orderId: "o-1", amount: 1 }, { identity })
      const error = yield* decodeFailure(withBody(envelope, "{not json"))
      expect(error.message).toContain("body")
      const bytes = yield* decodeFailure({ ...envelope, body: new Uint8Array([0xff, 0xfe]) })
      expect(bytes.message).toContain("body")
    }))

  it.effect("an envelope of another type is a DecodeError", () =>
    Effect.gen(function*() {
      const other = yield* ShipOrder.make({ orderId: "o-1" }, { identity })
      const error = yield* decodeFailure(other)
      expect(error.message).toContain("expected a OrderPlaced, got a ShipOrder")
    }))

  it.effect("an envelope of another kind or content type is a DecodeError", () =>
    Effect.gen(function*() {
      const envelope = yield* OrderPlaced.make({ orderId: "o-1", amount: 1 }, { identity })
      const kind = yield* decodeFailure({ ...envelope, kind: "command" })
      expect(kind.message).toContain("kind")
      const contentType = yield* decodeFailure({ ...envelope, contentType: "application/protobuf" })
      expect(contentType.message).toContain("application/protobuf")
    }))

  it.effect("is checks type and kind", () =>
    Effect.gen(function*() {
      const envelope = yield* OrderPlaced.make({ orderId: "o-1", amount: 1 }, { identity })
      expect(OrderPlaced.is(envelope)).toBe(true)
      expect(ShipOrder.is(envelope)).toBe(false)
      expect(OrderPlaced.is({ ...envelope, kind: "command" })).toBe(false)
    }))

  it.effect("root makes a root identity from the IdGenerator", () =>
    Effect.gen(function*() {
      const envelope = yield* OrderPlaced.root({ orderId: "o-1", amount: 1 })
      expect(envelope.identity.messageId).toBe(IdGenerator.testId(1))
      expect(envelope.identity.correlationId).toBe(IdGenerator.testId(1))
      expect(envelope.identity.causationId).toBe(IdGenerator.testId(1))
    }).pipe(Effect.provide(IdGenerator.layerTest)))

  it.effect("causedBy keeps the correlation and points at the parent", () =>
    Effect.gen(function*() {
      const parent = yield* OrderPlaced.root({ orderId: "o-1", amount: 1 })
      const child = yield* ShipOrder.causedBy(parent, { orderId: "o-1" })
      expect(child.identity.messageId).toBe(IdGenerator.testId(2))
      expect(child.identity.correlationId).toBe(IdGenerator.testId(1))
      expect(child.identity.causationId).toBe(IdGenerator.testId(1))
      const grandchild = yield* OrderPlaced.causedBy(child.identity, { orderId: "o-1", amount: 2 }, { occurredAt: 9 })
      expect(grandchild.identity.messageId).toBe(IdGenerator.testId(3))
      expect(grandchild.identity.correlationId).toBe(IdGenerator.testId(1))
      expect(grandchild.identity.causationId).toBe(IdGenerator.testId(2))
      expect(grandchild.occurredAt).toBe(9)
    }).pipe(Effect.provide(IdGenerator.layerTest)))

  it.effect("a custom codec is used both ways", () =>
    Effect.gen(function*() {
      const upper: Codec.BodyCodec = {
        contentType: "text/x-upper",
        encode: (value) => Result.succeed(encoder.encode(String(value).toUpperCase())),
        decode: (bytes) => Result.succeed(decoder.decode(bytes).toLowerCase())
      }
      const Shout = Message.event("Shout", Schema.String, { codec: upper })
      const envelope = yield* Shout.make("hello", { identity })
      expect(envelope.contentType).toBe("text/x-upper")
      expect(decoder.decode(envelope.body)).toBe("HELLO")
      expect(yield* Shout.decode(envelope)).toBe("hello")
    }))

  it.effect("a codec failure on encode is an EncodeError", () =>
    Effect.gen(function*() {
      const failing: Codec.BodyCodec = { ...Codec.json, encode: () => Result.fail("no bytes today") }
      const Broken = Message.event("Broken", Schema.String, { codec: failing })
      const error = yield* Effect.flip(Broken.make("x", { identity }))
      expect(error.reason._tag).toBe("EncodeError")
      expect(error.message).toContain("no bytes today")
    }))
})
