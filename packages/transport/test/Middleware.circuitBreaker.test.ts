import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { type Bus, Envelope, type Handler, Middleware, TransportError } from "@herald/transport"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"

const incoming: Bus.Incoming = {
  subject: "payments.charge",
  envelope: Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(1)),
    type: "ChargeCard",
    kind: "command",
    occurredAt: 0,
    body: new Uint8Array()
  })
}

const down = TransportError.make(new TransportError.ConnectionError({ detail: "payments down" }))
const bad = TransportError.make(new TransportError.DecodeError({ detail: "bad body" }))

/** A handler whose outcome is switched by the test; counts its calls. */
const switchable = () => {
  const state = { calls: 0, fail: undefined as unknown }
  const handler: Handler.Handler<Bus.Incoming, unknown> = () =>
    Effect.suspend(() => {
      state.calls++
      return state.fail === undefined ? Effect.void : Effect.fail(state.fail)
    })
  return { state, handler }
}

const reasonTag = (error: unknown) => TransportError.isTransportError(error) ? error.reason._tag : undefined

describe("Middleware.circuitBreaker", () => {
  it.effect("opens after maxFailures failures in a row and then fails fast without calling the handler", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "payments", maxFailures: 3, resetAfter: "30 seconds" })
      const { handler, state } = switchable()
      const handle = breaker(handler)
      expect(breaker.name).toBe("payments")
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 0 })
      state.fail = down
      expect(yield* Effect.flip(handle(incoming))).toBe(down)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 1 })
      expect(yield* Effect.flip(handle(incoming))).toBe(down)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 2 })
      expect(yield* Effect.flip(handle(incoming))).toBe(down)
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, until: 30_000 })
      expect(state.calls).toBe(3)

      state.fail = undefined
      for (let i = 0; i < 5; i++) {
        const error = yield* Effect.flip(handle(incoming))
        expect(reasonTag(error)).toBe("CircuitOpen")
        expect(TransportError.isRetryable(error)).toBe(true)
        expect((error as TransportError.TransportError).message).toBe("circuit payments is open")
      }
      expect(state.calls).toBe(3)
    }))

  it.effect("a success resets the count of failures", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "b", maxFailures: 3, resetAfter: "1 second" })
      const { handler, state } = switchable()
      const handle = breaker(handler)
      state.fail = down
      yield* Effect.flip(handle(incoming))
      yield* Effect.flip(handle(incoming))
      state.fail = undefined
      yield* handle(incoming)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 0 })
      state.fail = down
      yield* Effect.flip(handle(incoming))
      yield* Effect.flip(handle(incoming))
      expect((yield* breaker.state)._tag).toBe("Closed")
      yield* Effect.flip(handle(incoming))
      expect((yield* breaker.state)._tag).toBe("Open")
      expect(state.calls).toBe(6)
    }))

  it.effect("after resetAfter one trial goes through: success closes the breaker", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "b", maxFailures: 1, resetAfter: "10 seconds" })
      const { handler, state } = switchable()
      const handle = breaker(handler)
      state.fail = down
      yield* Effect.flip(handle(incoming))
      expect(state.calls).toBe(1)
      state.fail = undefined
      yield* TestClock.adjust("9999 millis")
      expect(reasonTag(yield* Effect.flip(handle(incoming)))).toBe("CircuitOpen")
      expect(state.calls).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* handle(incoming)
      expect(state.calls).toBe(2)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 0 })
      yield* handle(incoming)
      expect(state.calls).toBe(3)
    }))

  it.effect("a failed trial opens the breaker again for another resetAfter", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "b", maxFailures: 2, resetAfter: "10 seconds" })
      const { handler, state } = switchable()
      const handle = breaker(handler)
      state.fail = down
      yield* Effect.flip(handle(incoming))
      yield* Effect.flip(handle(incoming))
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, until: 10_000 })
      yield* TestClock.adjust("15 seconds")
      expect(yield* Effect.flip(handle(incoming))).toBe(down) // the trial
      expect(state.calls).toBe(3)
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 15_000, until: 25_000 })
      state.fail = undefined
      yield* TestClock.adjust("9 seconds")
      expect(reasonTag(yield* Effect.flip(handle(incoming)))).toBe("CircuitOpen")
      expect(state.calls).toBe(3)
      yield* TestClock.adjust("1 second")
      yield* handle(incoming)
      expect(state.calls).toBe(4)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 0 })
    }))

  it.effect("half-open lets halfOpenMax trials through at once; others fail fast", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "b", maxFailures: 1, resetAfter: "1 second" })
      const gate = yield* Deferred.make<void>()
      let calls = 0
      let fail = true
      const handle = breaker((_: Bus.Incoming) =>
        Effect.suspend(() => {
          calls++
          return fail ? Effect.fail(down) : Deferred.await(gate)
        })
      )
      yield* Effect.flip(handle(incoming))
      fail = false
      yield* TestClock.adjust("1 second")
      const trial = yield* Effect.forkChild(handle(incoming))
      yield* Effect.yieldNow
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trials: 1 })
      expect(reasonTag(yield* Effect.flip(handle(incoming)))).toBe("CircuitOpen")
      expect(calls).toBe(2)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.await(trial)).toEqual(Exit.void)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 0 })
    }))

  it.effect("halfOpenMax: 2 admits two trials", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({
        name: "b",
        maxFailures: 1,
        resetAfter: "1 second",
        halfOpenMax: 2
      })
      const gate = yield* Deferred.make<void>()
      let calls = 0
      let fail = true
      const handle = breaker((_: Bus.Incoming) =>
        Effect.suspend(() => (calls++, fail ? Effect.fail(down) : Deferred.await(gate)))
      )
      yield* Effect.flip(handle(incoming))
      fail = false
      yield* TestClock.adjust("1 second")
      const first = yield* Effect.forkChild(handle(incoming))
      const second = yield* Effect.forkChild(handle(incoming))
      yield* Effect.yieldNow
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trials: 2 })
      expect(reasonTag(yield* Effect.flip(handle(incoming)))).toBe("CircuitOpen")
      expect(calls).toBe(3)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.await(first)
      yield* Fiber.await(second)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 0 })
    }))

  it.effect("an interrupted trial frees its slot and leaves the breaker half-open", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "b", maxFailures: 1, resetAfter: "1 second" })
      let fail = true
      const handle = breaker((_: Bus.Incoming) => fail ? Effect.fail(down) : Effect.never)
      yield* Effect.flip(handle(incoming))
      fail = false
      yield* TestClock.adjust("1 second")
      const trial = yield* Effect.forkChild(handle(incoming))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(trial)
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trials: 0 })
    }))

  it.effect("non-retryable failures neither count nor reset; isFailure overrides that", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "b", maxFailures: 2, resetAfter: "1 second" })
      const { handler, state } = switchable()
      const handle = breaker(handler)
      state.fail = down
      yield* Effect.flip(handle(incoming))
      state.fail = bad
      for (let i = 0; i < 5; i++) expect(yield* Effect.flip(handle(incoming))).toBe(bad)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 1 })

      const strict = yield* Middleware.circuitBreaker({
        name: "strict",
        maxFailures: 2,
        resetAfter: "1 second",
        isFailure: () => true
      })
      const handleStrict = strict(handler)
      yield* Effect.flip(handleStrict(incoming))
      yield* Effect.flip(handleStrict(incoming))
      expect((yield* strict.state)._tag).toBe("Open")
    }))

  it.effect("defects count as failures", () =>
    Effect.gen(function*() {
      const breaker = yield* Middleware.circuitBreaker({ name: "b", maxFailures: 1, resetAfter: "1 second" })
      yield* Effect.exit(breaker((_: Bus.Incoming) => Effect.die("bug"))(incoming))
      expect((yield* breaker.state)._tag).toBe("Open")
    }))

  it.effect("each breaker has its own state; one breaker is shared by the handlers it wraps", () =>
    Effect.gen(function*() {
      const options = { name: "b", maxFailures: 2, resetAfter: "1 minute" } as const
      const a = yield* Middleware.circuitBreaker(options)
      const b = yield* Middleware.circuitBreaker(options)
      const { handler } = switchable()
      const failing: Handler.Handler<Bus.Incoming, TransportError.TransportError> = () => Effect.fail(down)
      yield* Effect.flip(a(failing)(incoming))
      yield* Effect.flip(a(handler)(incoming).pipe(Effect.andThen(a(failing)(incoming))))
      expect((yield* a.state)._tag).toBe("Closed")
      yield* Effect.flip(a(failing)(incoming))
      expect((yield* a.state)._tag).toBe("Open")
      expect(reasonTag(yield* Effect.flip(a(handler)(incoming)))).toBe("CircuitOpen")
      expect(yield* b.state).toEqual({ _tag: "Closed", failures: 0 })
      yield* b(handler)(incoming)
    }))

  it.effect("invalid options fail with InvalidConfig", () =>
    Effect.gen(function*() {
      const invalid: ReadonlyArray<Middleware.CircuitBreaker.Options> = [
        { name: "x", maxFailures: 0, resetAfter: "1 second" },
        { name: "x", maxFailures: 1.5, resetAfter: "1 second" },
        { name: "x", maxFailures: 1, resetAfter: "1 second", halfOpenMax: 0 },
        { name: "x", maxFailures: 1, resetAfter: "soon" as never },
        { name: "x", maxFailures: 1, resetAfter: "Infinity" }
      ]
      for (const options of invalid) {
        const error = yield* Effect.flip(Middleware.circuitBreaker(options))
        expect(error.reason._tag).toBe("InvalidConfig")
      }
    }))
})
