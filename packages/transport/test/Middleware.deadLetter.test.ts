import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import {
  type Bus,
  DeadLetter,
  EventLog,
  Handler,
  Message,
  Middleware,
  TransportError,
  Wire
} from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

const OrderPlaced = Message.event("OrderPlaced", Schema.Struct({ orderId: Schema.String, amount: Schema.Number }))

const lost = TransportError.make(new TransportError.ConnectionError({ detail: "db lost" }))
const bad = TransportError.make(new TransportError.DecodeError({ detail: "bad body" }))

interface Appended {
  readonly subject: string
  readonly message: Wire.RawMessage
}

/** A tiny EventLog: `appendRaw` records (or fails with `failAppend`); the rest is unused. */
const fakeLog = (failAppend?: TransportError.TransportError) => {
  const appended: Array<Appended> = []
  const unused = Effect.die("not used by the middleware")
  const service = EventLog.EventLog.of({
    append: () => unused,
    appendRaw: (subject, message) =>
      failAppend !== undefined
        ? Effect.fail(failAppend)
        : Effect.sync(() => {
          appended.push({ subject, message })
          return { stream: "HERALD_DLQ", sequence: appended.length, duplicate: false }
        }),
    pull: () => unused,
    consume: () => unused,
    read: () => Stream.die("not used by the middleware"),
    readRaw: () => Stream.die("not used by the middleware"),
    get: () => unused,
    getRaw: () => unused,
    info: () => unused,
    lag: () => unused
  })
  return { appended, layer: Layer.succeed(EventLog.EventLog)(service) }
}

/** A delivery of an OrderPlaced whose settlements are recorded. */
const makeDelivery = (options: { readonly deliveryCount: number; readonly body?: string }) =>
  Effect.gen(function*() {
    const envelope = yield* OrderPlaced.make({ orderId: "o-1", amount: 10 }, {
      identity: MessageIdentity.root(IdGenerator.testId(9)),
      occurredAt: 1_000,
      headers: { traceparent: "00-abc-def-01" }
    })
    const body = options.body === undefined ? envelope.body : new TextEncoder().encode(options.body)
    const raw = Result.getOrThrow(Wire.encode({ ...envelope, body }))
    const settled: Array<string> = []
    const delivery: EventLog.Delivery = {
      subject: "orders.eu.placed",
      envelope: { ...envelope, body },
      stream: "ORDERS",
      consumer: "billing",
      streamSequence: 42,
      consumerSequence: 7,
      deliveryCount: options.deliveryCount,
      timestamp: 1_000,
      pending: 0,
      raw,
      deadLetterSubject: "orders.dlq.billing",
      ack: Effect.sync(() => void settled.push("ack")),
      nak: (delay) => Effect.sync(() => void settled.push(`nak ${String(delay)}`)),
      term: (reason) => Effect.sync(() => void settled.push(`term ${reason}`)),
      inProgress: Effect.void
    }
    return { delivery, settled, raw }
  })

const failingWith = <E>(error: E) => {
  const state = { calls: 0 }
  const handler: Handler.Handler<EventLog.Delivery, E> = () => Effect.suspend(() => (state.calls++, Effect.fail(error)))
  return { state, handler }
}

describe("Middleware.deadLetter", () => {
  it.effect("a non-retryable failure is dead-lettered once with the right headers, termed, and succeeds", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2024, 5, 1, 12, 0, 0, 500))
      const { appended, layer } = fakeLog()
      const { delivery, settled, raw } = yield* makeDelivery({ deliveryCount: 1 })
      const { handler, state } = failingWith(bad)
      yield* Middleware.deadLetter()(handler)(delivery).pipe(Effect.provide(layer))
      expect(state.calls).toBe(1)
      expect(appended).toHaveLength(1)
      const [letter] = appended
      const reason = "non-retryable failure: TransportError: cannot decode: bad body"
      // The subject the delivery's runner dead-letters to.
      expect(letter!.subject).toBe("orders.dlq.billing")
      expect(letter!.message.body).toBe(raw.body)
      expect(letter!.message.headers).toEqual({
        ...raw.headers,
        "Nats-Msg-Id": "dlq:ORDERS:billing:42",
        "Herald-Dlq-Reason": reason,
        "Herald-Dlq-Stream": "ORDERS",
        "Herald-Dlq-Consumer": "billing",
        "Herald-Dlq-Sequence": "42",
        "Herald-Dlq-Subject": "orders.eu.placed",
        "Herald-Dlq-Delivery-Count": "1",
        "Herald-Dlq-Failed-At": "2024-06-01T12:00:00.500Z"
      })
      expect(letter!.message.headers["Herald-Message-Id"]).toBe(IdGenerator.testId(9))
      expect(letter!.message.headers.traceparent).toBe("00-abc-def-01")
      expect(DeadLetter.parse(letter!.message)).toEqual({
        reason,
        stream: "ORDERS",
        consumer: "billing",
        sequence: 42,
        subject: "orders.eu.placed",
        deliveryCount: 1,
        failedAt: Date.UTC(2024, 5, 1, 12, 0, 0, 500)
      })
      expect(settled).toEqual([`term ${reason}`])
    }))

  it.effect("a body that does not match the Schema is dead-lettered through decode", () =>
    Effect.gen(function*() {
      const { appended, layer } = fakeLog()
      const { delivery, settled } = yield* makeDelivery({
        deliveryCount: 1,
        body: JSON.stringify({ orderId: "o-1", amount: "ten" })
      })
      let calls = 0
      const handle = Handler.pipe(
        Middleware.decode(OrderPlaced, (_order, _delivery: EventLog.Delivery) => Effect.sync(() => void calls++)),
        Middleware.retry({ times: 3 }),
        Middleware.deadLetter()
      )
      yield* handle(delivery).pipe(Effect.provide(layer))
      expect(calls).toBe(0)
      expect(appended).toHaveLength(1)
      expect(appended[0]!.message.headers["Herald-Dlq-Reason"]).toContain("cannot decode: OrderPlaced")
      expect(appended[0]!.message.headers["Herald-Dlq-Reason"]).toContain("amount")
      expect(settled).toHaveLength(1)
      expect(settled[0]).toMatch(/^term non-retryable failure: /)
    }))

  it.effect("goes to the subject given", () =>
    Effect.gen(function*() {
      const { appended, layer } = fakeLog()
      const { delivery } = yield* makeDelivery({ deliveryCount: 1 })
      yield* Middleware.deadLetter({ subject: "dlq.billing" })(failingWith(bad).handler)(delivery).pipe(
        Effect.provide(layer)
      )
      expect(appended.map((a) => a.subject)).toEqual(["dlq.billing"])
    }))

  it.effect("a retryable failure below maxDeliveries passes through unchanged", () =>
    Effect.gen(function*() {
      const { appended, layer } = fakeLog()
      const { delivery, settled } = yield* makeDelivery({ deliveryCount: 2 })
      const error = yield* Effect.flip(
        Middleware.deadLetter({ maxDeliveries: 3 })(failingWith(lost).handler)(delivery).pipe(Effect.provide(layer))
      )
      expect(error).toBe(lost)
      expect(appended).toHaveLength(0)
      expect(settled).toEqual([])
    }))

  it.effect("a retryable failure on delivery maxDeliveries (or later) is dead-lettered", () =>
    Effect.gen(function*() {
      for (const deliveryCount of [3, 4]) {
        const { appended, layer } = fakeLog()
        const { delivery, settled } = yield* makeDelivery({ deliveryCount })
        yield* Middleware.deadLetter({ maxDeliveries: 3 })(failingWith(lost).handler)(delivery).pipe(
          Effect.provide(layer)
        )
        const reason = `failed on delivery ${deliveryCount} of 3: TransportError: connection: db lost`
        expect(appended).toHaveLength(1)
        expect(appended[0]!.message.headers["Herald-Dlq-Reason"]).toBe(reason)
        expect(appended[0]!.message.headers["Herald-Dlq-Delivery-Count"]).toBe(String(deliveryCount))
        expect(settled).toEqual([`term ${reason}`])
      }
    }))

  it.effect("without maxDeliveries a retryable failure always passes through", () =>
    Effect.gen(function*() {
      const { appended, layer } = fakeLog()
      const { delivery } = yield* makeDelivery({ deliveryCount: 100 })
      const error = yield* Effect.flip(
        Middleware.deadLetter()(failingWith(new Error("flaky")).handler)(delivery).pipe(Effect.provide(layer))
      )
      expect(error).toBeInstanceOf(Error)
      expect(appended).toHaveLength(0)
    }))

  it.effect("a foreign failure that says it is not retryable is dead-lettered", () =>
    Effect.gen(function*() {
      const { appended, layer } = fakeLog()
      const { delivery } = yield* makeDelivery({ deliveryCount: 1 })
      yield* Middleware.deadLetter()(
        failingWith({ _tag: "SqlError", message: "unique violation", isRetryable: false }).handler
      )(delivery).pipe(Effect.provide(layer))
      expect(appended[0]!.message.headers["Herald-Dlq-Reason"]).toBe(
        "non-retryable failure: SqlError: unique violation"
      )
    }))

  it.effect("a success appends nothing and settles nothing", () =>
    Effect.gen(function*() {
      const { appended, layer } = fakeLog()
      const { delivery, settled } = yield* makeDelivery({ deliveryCount: 1 })
      yield* Middleware.deadLetter({ maxDeliveries: 1 })((_: EventLog.Delivery) => Effect.void)(delivery).pipe(
        Effect.provide(layer)
      )
      expect(appended).toHaveLength(0)
      expect(settled).toEqual([])
    }))

  it.effect("when the dead letter cannot be stored it fails with the append's error and does not term", () =>
    Effect.gen(function*() {
      const appendError = TransportError.make(new TransportError.NoStreamForSubject({ subject: "herald.dlq.ORDERS.billing" }))
      const { layer } = fakeLog(appendError)
      const { delivery, settled } = yield* makeDelivery({ deliveryCount: 1 })
      const error = yield* Effect.flip(
        Middleware.deadLetter()(failingWith(bad).handler)(delivery).pipe(Effect.provide(layer))
      )
      expect(error).toBe(appendError)
      expect(settled).toEqual([])
    }))

  it.effect("defects pass through without a dead letter", () =>
    Effect.gen(function*() {
      const { appended, layer } = fakeLog()
      const { delivery } = yield* makeDelivery({ deliveryCount: 1 })
      const exit = yield* Effect.exit(
        Middleware.deadLetter()((_: EventLog.Delivery) => Effect.die("bug"))(delivery).pipe(Effect.provide(layer))
      )
      expect(exit._tag).toBe("Failure")
      expect(appended).toHaveLength(0)
    }))

  it("types: needs the EventLog, adds TransportError, gives a handler of deliveries", () => {
    const handle = Middleware.deadLetter()(failingWith(lost).handler)
    const typed: Handler.Handler<EventLog.Delivery, TransportError.TransportError, EventLog.EventLog> = handle
    // @ts-expect-error: the EventLog service is required
    const withoutLog: Handler.Handler<EventLog.Delivery, TransportError.TransportError> = handle
    const fromIncoming = Handler.pipe(Middleware.decode(OrderPlaced, () => Effect.void), Middleware.deadLetter())
    const deliveries: Handler.Handler<EventLog.Delivery, TransportError.TransportError, EventLog.EventLog> =
      fromIncoming
    // @ts-expect-error: it needs a delivery, not any incoming message
    const incoming: Handler.Handler<Bus.Incoming, TransportError.TransportError, EventLog.EventLog> = fromIncoming
    expect([typed, withoutLog, deliveries, incoming].length).toBe(4)
  })
})
