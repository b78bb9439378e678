import { assert, describe, it } from "@effect/vitest"
import { Wait } from "@herald/testing"
import { type EventLog, TransportError } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as TestClock from "effect/testing/TestClock"

const defectMessage = <A, E>(exit: Exit.Exit<A, E>): string => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isSuccess(exit)) return ""
  const die = exit.cause.reasons.find((r) => r._tag === "Die")
  assert.isDefined(die)
  return die !== undefined && die._tag === "Die" ? String((die.defect as Error).message) : ""
}

describe("Wait", () => {
  it.live("bounded dies naming what was awaited when the bound passes", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Wait.bounded(Effect.succeed(1), "1 second", "quick"), 1)
      const exit = yield* Effect.exit(Wait.bounded(Effect.never, "20 millis", "the order flow"))
      assert.strictEqual(defectMessage(exit), "the order flow: not done within 20ms")
    }))

  it.live("until retries a failing probe and returns the first value that is done", () =>
    Effect.gen(function*() {
      let calls = 0
      const probe = Effect.suspend(() => {
        calls++
        return calls < 3 ? Effect.fail("not yet") : Effect.succeed(calls)
      })
      assert.strictEqual(yield* Wait.until(probe, (n) => n >= 4, "four calls"), 4)
      assert.strictEqual(calls, 4)
    }))

  it.live("until names the last value and error when the bound passes", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Wait.until(Effect.succeed(7), (n) => n > 10, "above ten", "120 millis"))
      assert.strictEqual(defectMessage(exit), "above ten; last seen 7: not done within 120ms")
    }))

  it.effect("until under TestClock: advance lets time pass between probes, and the bound counts test time", () =>
    Effect.gen(function*() {
      const due = (yield* Clock.currentTimeMillis) + 2_000
      const reached = yield* Wait.until(Clock.currentTimeMillis, (now) => now >= due, "two seconds of test time", {
        interval: "500 millis",
        advance: TestClock.adjust
      })
      assert.strictEqual(reached, due)
      const exit = yield* Effect.exit(
        Wait.until(Effect.succeed(1), (n) => n > 1, "never", { bound: "1 second", interval: "100 millis", advance: TestClock.adjust })
      )
      assert.strictEqual(defectMessage(exit), "never; last seen 1: not done within 1s")
    }))

  it.live("whileRunning dies with the runner's error when the runner stops first", () =>
    Effect.gen(function*() {
      const stopped = yield* Deferred.make<never, TransportError.TransportError>()
      const handle: Pick<EventLog.ConsumerHandle, "await"> = { await: Deferred.await(stopped) }
      assert.strictEqual(yield* Wait.whileRunning(handle, Effect.succeed("done")), "done")
      yield* Deferred.fail(
        stopped,
        TransportError.make(new TransportError.ConsumerNotFound({ stream: "S", consumer: "c" }))
      )
      const exit = yield* Effect.exit(Wait.whileRunning(handle, Effect.never))
      assert.strictEqual(defectMessage(exit), "the consumer runner stopped: ConsumerNotFound: consumer c not found on stream S")
    }))
})
