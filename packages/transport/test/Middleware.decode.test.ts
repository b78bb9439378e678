import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { type Bus, type EventLog, type Handler, Message, Middleware, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const OrderPlaced = Message.event("OrderPlaced", Schema.Struct({ orderId: Schema.String, amount: Schema.Number }))
const OrderCancelled = Message.event("OrderCancelled", Schema.Struct({ orderId: Schema.String, reason: Schema.String }))
const ShipOrder = Message.command("ShipOrder", Schema.Struct({ orderId: Schema.String }))

const identity = MessageIdentity.root(IdGenerator.testId(1))
const encoder = new TextEncoder()

const incomingOf = <D extends Message.Any>(definition: D, payload: Message.Payload<D>) =>
  Effect.map(
    definition.make(payload, { identity, occurredAt: 0 }) as Effect.Effect<
      Bus.Incoming["envelope"],
      TransportError.TransportError
    >,
    (envelope): Bus.Incoming => ({ subject: `orders.${definition.type}`, envelope })
  )

const withBody = (incoming: Bus.Incoming, body: string): Bus.Incoming => ({
  ...incoming,
  envelope: { ...incoming.envelope, body: encoder.encode(body) }
})

const expectDecodeError = (error: unknown, text: string) => {
  expect(TransportError.isTransportError(error)).toBe(true)
  if (!TransportError.isTransportError(error)) return
  expect(error.reason._tag).toBe("DecodeError")
  expect(error.isRetryable).toBe(false)
  expect(error.message).toContain(text)
}

describe("Middleware.decode", () => {
  it.effect("hands the decoded payload and the incoming message to the handler", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const handle = Middleware.decode(OrderPlaced, (order, incoming) =>
        Effect.sync(() => {
          seen.push([order.orderId, order.amount, incoming.subject])
        }))
      yield* handle(yield* incomingOf(OrderPlaced, { orderId: "o-1", amount: 12 }))
      expect(seen).toEqual([["o-1", 12, "orders.OrderPlaced"]])
    }))

  it.effect("a body that does not match the Schema fails with a DecodeError; the handler is not called", () =>
    Effect.gen(function*() {
      let calls = 0
      const handle = Middleware.decode(OrderPlaced, () => Effect.sync(() => void calls++))
      const incoming = yield* incomingOf(OrderPlaced, { orderId: "o-1", amount: 12 })
      const error = yield* Effect.flip(handle(withBody(incoming, JSON.stringify({ orderId: "o-1", amount: "12" }))))
      expectDecodeError(error, "amount")
      const notJson = yield* Effect.flip(handle(withBody(incoming, "not json")))
      expectDecodeError(notJson, "body")
      expect(calls).toBe(0)
    }))

  it.effect("an envelope of another type fails with a DecodeError", () =>
    Effect.gen(function*() {
      const handle = Middleware.decode(OrderPlaced, () => Effect.void)
      const error = yield* Effect.flip(handle(yield* incomingOf(ShipOrder, { orderId: "o-1" })))
      expectDecodeError(error, "expected a OrderPlaced, got a ShipOrder")
    }))

  it.effect("the handler's own failure passes through unchanged", () =>
    Effect.gen(function*() {
      const handle = Middleware.decode(OrderPlaced, () => Effect.fail("nope" as const))
      const error = yield* Effect.flip(handle(yield* incomingOf(OrderPlaced, { orderId: "o-1", amount: 1 })))
      expect(error).toBe("nope")
    }))

  it("types: the input follows the context, failures add TransportError", () => {
    const forDeliveries: Handler.Handler<EventLog.Delivery, "nope" | TransportError.TransportError> = Middleware
      .decode(OrderPlaced, (_order, delivery: EventLog.Delivery) =>
        delivery.deliveryCount > 1 ? Effect.fail("nope" as const) : Effect.void)
    const anyIncoming: Handler.Handler<Bus.Incoming, TransportError.TransportError> = Middleware.decode(
      OrderPlaced,
      () => Effect.void
    )
    // @ts-expect-error: decoding can fail with a TransportError
    const never: Handler.Handler<Bus.Incoming> = Middleware.decode(OrderPlaced, () => Effect.void)
    expect([forDeliveries, anyIncoming, never].length).toBe(3)
  })
})

describe("Middleware.decodeAny", () => {
  it.effect("decodes by envelope type into a tagged value", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const handle = Middleware.decodeAny([OrderPlaced, OrderCancelled], (message) =>
        Effect.sync(() => {
          switch (message.type) {
            case "OrderPlaced":
              seen.push(`placed ${message.payload.orderId} ${message.payload.amount}`)
              break
            case "OrderCancelled":
              seen.push(`cancelled ${message.payload.orderId} ${message.payload.reason}`)
              break
          }
        }))
      yield* handle(yield* incomingOf(OrderPlaced, { orderId: "o-1", amount: 3 }))
      yield* handle(yield* incomingOf(OrderCancelled, { orderId: "o-2", reason: "late" }))
      expect(seen).toEqual(["placed o-1 3", "cancelled o-2 late"])
    }))

  it.effect("accepts a record of definitions", () =>
    Effect.gen(function*() {
      const kinds: Array<string> = []
      const handle = Middleware.decodeAny(
        { OrderPlaced, ShipOrder },
        (message) => Effect.sync(() => void kinds.push(`${message.type}/${message.kind}`))
      )
      yield* handle(yield* incomingOf(ShipOrder, { orderId: "o-1" }))
      expect(kinds).toEqual(["ShipOrder/command"])
    }))

  it.effect("an unknown type is a DecodeError naming it and the known types", () =>
    Effect.gen(function*() {
      let calls = 0
      const handle = Middleware.decodeAny([OrderPlaced, OrderCancelled], () => Effect.sync(() => void calls++))
      const error = yield* Effect.flip(handle(yield* incomingOf(ShipOrder, { orderId: "o-1" })))
      expectDecodeError(error, "unknown message type \"ShipOrder\"")
      expectDecodeError(error, "\"OrderPlaced\", \"OrderCancelled\"")
      expect(calls).toBe(0)
    }))

  it.effect("a known type with a bad body is a DecodeError", () =>
    Effect.gen(function*() {
      const handle = Middleware.decodeAny([OrderPlaced, OrderCancelled], () => Effect.void)
      const incoming = yield* incomingOf(OrderCancelled, { orderId: "o-1", reason: "x" })
      const error = yield* Effect.flip(handle(withBody(incoming, "{}")))
      expectDecodeError(error, "OrderCancelled")
    }))
})

describe("Middleware.decodeAny types", () => {
  it("the type narrows the payload", () => {
    const handle = Middleware.decodeAny([OrderPlaced, OrderCancelled], (message) => {
      // @ts-expect-error: only an OrderCancelled has a reason
      const unnarrowed: string = message.payload.reason
      const narrowed: string | undefined = message.type === "OrderCancelled" ? message.payload.reason : undefined
      return Effect.succeed([unnarrowed, narrowed])
    })
    const typed: Handler.Handler<Bus.Incoming, TransportError.TransportError> = handle
    expect(typeof typed).toBe("function")
  })
})

describe("Middleware.router", () => {
  it.effect("dispatches each type to its route", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const handle = Middleware.router([
        Middleware.route(OrderPlaced, (order) => Effect.sync(() => void seen.push(`placed ${order.amount}`))),
        Middleware.route(OrderCancelled, (cancel, incoming) =>
          Effect.sync(() => void seen.push(`cancelled ${cancel.reason} on ${incoming.subject}`)))
      ])
      yield* handle(yield* incomingOf(OrderCancelled, { orderId: "o-1", reason: "late" }))
      yield* handle(yield* incomingOf(OrderPlaced, { orderId: "o-1", amount: 5 }))
      expect(seen).toEqual(["cancelled late on orders.OrderCancelled", "placed 5"])
    }))

  it.effect("an unknown type is a non-retryable DecodeError", () =>
    Effect.gen(function*() {
      const handle = Middleware.router([Middleware.route(OrderPlaced, () => Effect.void)])
      const error = yield* Effect.flip(handle(yield* incomingOf(ShipOrder, { orderId: "o-1" })))
      expectDecodeError(error, "ShipOrder")
    }))

  it.effect("onUnknown handles the types no route names", () =>
    Effect.gen(function*() {
      const ignored: Array<string> = []
      const handle = Middleware.router([Middleware.route(OrderPlaced, () => Effect.void)], {
        onUnknown: (incoming) => Effect.sync(() => void ignored.push(incoming.envelope.type))
      })
      yield* handle(yield* incomingOf(ShipOrder, { orderId: "o-1" }))
      yield* handle(yield* incomingOf(OrderPlaced, { orderId: "o-1", amount: 1 }))
      expect(ignored).toEqual(["ShipOrder"])
    }))

  it.effect("the first route of a type wins; a bad body is a DecodeError", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const handle = Middleware.router([
        Middleware.route(OrderPlaced, () => Effect.sync(() => void seen.push("first"))),
        Middleware.route(OrderPlaced, () => Effect.sync(() => void seen.push("second")))
      ])
      const incoming = yield* incomingOf(OrderPlaced, { orderId: "o-1", amount: 1 })
      yield* handle(incoming)
      expect(seen).toEqual(["first"])
      expectDecodeError(yield* Effect.flip(handle(withBody(incoming, "[]"))), "OrderPlaced")
    }))

  it("types: routes' failures are united", () => {
    const handle = Middleware.router([
      Middleware.route(OrderPlaced, () => Effect.fail("a" as const)),
      Middleware.route(OrderCancelled, () => Effect.fail("b" as const))
    ])
    const typed: Handler.Handler<Bus.Incoming, "a" | "b" | TransportError.TransportError> = handle
    // @ts-expect-error: route "b" can fail with "b"
    const narrow: Handler.Handler<Bus.Incoming, "a" | TransportError.TransportError> = handle
    expect([typed, narrow].length).toBe(2)
  })
})
