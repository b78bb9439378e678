import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { type Bus, Envelope, type EventLog, Handler, Middleware, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

const incoming: Bus.Incoming = {
  subject: "orders.placed",
  envelope: Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(1)),
    type: "OrderPlaced",
    kind: "event",
    occurredAt: 0,
    body: new Uint8Array()
  })
}

// A middleware that records when it runs, before and after the handler it wraps.
const trace = (log: Array<string>, name: string) =>
<In, E, R>(handler: Handler.Handler<In, E, R>): Handler.Handler<In, E, R> =>
(input) =>
  Effect.sync(() => log.push(`${name}>`)).pipe(
    Effect.andThen(handler(input)),
    Effect.tap(() => Effect.sync(() => log.push(`<${name}`)))
  )

describe("Handler", () => {
  it.effect("pipe applies middlewares first to last: the last is outermost", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const handler: Handler.Handler<Bus.Incoming> = () => Effect.sync(() => void log.push("handler"))
      yield* Handler.pipe(handler, trace(log, "a"), trace(log, "b"), trace(log, "c"))(incoming)
      expect(log).toEqual(["c>", "b>", "a>", "handler", "<a", "<b", "<c"])
    }))

  it.effect("pipe with no middleware is the handler itself", () =>
    Effect.gen(function*() {
      const handler: Handler.Handler<Bus.Incoming> = () => Effect.void
      expect(Handler.pipe(handler)).toBe(handler)
    }))

  it.effect("compose(a, b) is the same as applying a then b", () =>
    Effect.gen(function*() {
      const piped: Array<string> = []
      const composed: Array<string> = []
      const run = (log: Array<string>) => () => Effect.sync(() => void log.push("handler"))
      yield* Handler.pipe(run(piped), trace(piped, "a"), trace(piped, "b"))(incoming)
      const both = Handler.compose(trace(composed, "a"), trace(composed, "b"))
      yield* both(run(composed))(incoming)
      expect(composed).toEqual(piped)
    }))

  it.effect("plain function application works too", () =>
    Effect.gen(function*() {
      let calls = 0
      const handler: Handler.Handler<Bus.Incoming, TransportError.TransportError> = () =>
        Effect.suspend(() => {
          calls++
          return calls < 3
            ? Effect.fail(TransportError.make(new TransportError.ConnectionError({ detail: "lost" })))
            : Effect.void
        })
      yield* Middleware.retry(Schedule.recurs(5))(Middleware.timeout("1 second")(handler))(incoming)
      expect(calls).toBe(3)
    }))

  it("types: failures and services accumulate through the pipeline", () => {
    class Boom {
      readonly _tag = "Boom"
    }
    const handler: Handler.Handler<EventLog.Delivery, Boom, "Db"> = () => Effect.void
    const piped = Handler.pipe(handler, Middleware.timeout("1 second"), Middleware.retry({ times: 1 }))
    // Compile-time checks: the pipeline keeps the input, adds TransportError, keeps the services.
    const typed: Handler.Handler<EventLog.Delivery, Boom | TransportError.TransportError, "Db"> = piped
    const input: Handler.Input<typeof piped> = {} as EventLog.Delivery
    const error: Handler.Error<typeof piped> = new Boom()
    const services: Array<Handler.Services<typeof piped>> = ["Db"]
    const generic = Handler.compose(Middleware.timeout("1 second"), Middleware.retry({ times: 1 }))
    const composed: Handler.Handler<EventLog.Delivery, Boom | TransportError.TransportError, "Db"> = generic(handler)
    const middleware: Handler.Middleware<EventLog.Delivery, Boom, "Db", Boom | TransportError.TransportError, "Db"> =
      Middleware.timeout("1 second")
    // @ts-expect-error: the pipeline can fail with a TransportError
    const narrow: Handler.Handler<EventLog.Delivery, Boom, "Db"> = piped
    // @ts-expect-error: the pipeline needs the Db service
    const noServices: Handler.Handler<EventLog.Delivery, Boom | TransportError.TransportError> = piped
    // @ts-expect-error: the pipeline takes a delivery, not any incoming message
    const wider: Handler.Handler<Bus.Incoming, Boom | TransportError.TransportError, "Db"> = piped
    expect([typed, input, error, services, composed, middleware, narrow, noServices, wider].length).toBe(9)
  })
})
