import { describe, expect, it } from "@effect/vitest"
import { ConsumerState, TransportError } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

const makeTracker = (inFlight: () => number = () => 0, idleWarningMillis?: number) =>
  Clock.clockWith((clock) => ConsumerState.makeTracker({ label: "test consumer S/c", clock, inFlight, idleWarningMillis }))

const stopped = TransportError.make(new TransportError.StreamNotFound({ stream: "S" }))

describe("ConsumerState.makeTracker", () => {
  it.effect("Failed over Recovering over Stalled over Running; one recovery keeps its since", () =>
    Effect.gen(function*() {
      let running = 2
      const tracker = yield* makeTracker(() => running)
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: undefined, inFlight: 2, idleSince: undefined })
      yield* TestClock.adjust(1_000)
      tracker.received()
      running = 1
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: 1_000, inFlight: 1, idleSince: undefined })

      yield* TestClock.adjust(1_000)
      const release = tracker.overdue("handler of stream sequence 7 past its deadline of 500 ms has not stopped")
      expect(yield* tracker.state).toEqual({
        _tag: "Stalled",
        reason: "HandlerPastDeadline",
        detail: "handler of stream sequence 7 past its deadline of 500 ms has not stopped",
        since: 2_000,
        overdue: 1,
        lastMessageAt: 1_000,
        inFlight: 1
      })
      yield* TestClock.adjust(1_000)
      tracker.recovering("Disconnected", "lost")
      yield* TestClock.adjust(1_000)
      tracker.recovering("Reconnected", "back")
      expect(yield* tracker.state).toEqual({
        _tag: "Recovering",
        reason: "Reconnected",
        detail: "back",
        since: 3_000,
        lastMessageAt: 1_000,
        inFlight: 1
      })
      tracker.recovered()
      expect((yield* tracker.state)._tag).toBe("Stalled")
      release()
      release()
      expect((yield* tracker.state)._tag).toBe("Running")

      tracker.recovering("HeartbeatsMissed", "silent")
      tracker.failed(stopped)
      tracker.recovering("Unavailable", "after the end")
      tracker.recovered()
      expect(yield* tracker.state).toEqual({ _tag: "Failed", error: stopped, since: 4_000 })
    }))

  it.effect("changes: the state now, then transitions only (not every delivery); ends after Failed", () =>
    Effect.gen(function*() {
      const tracker = yield* makeTracker()
      const collecting = yield* Effect.forkChild(Stream.runCollect(tracker.changes))
      yield* Effect.yieldNow
      tracker.received()
      tracker.received()
      tracker.recovering("Disconnected", "lost")
      tracker.recovering("Disconnected", "lost")
      tracker.recovering("Reconnected", "back")
      tracker.recovered()
      const first = tracker.overdue("a")
      const second = tracker.overdue("b")
      first()
      second()
      tracker.failed(stopped)
      tracker.failed(TransportError.make(new TransportError.ConsumerNotFound({ stream: "S", consumer: "c" })))
      const collected = yield* Fiber.join(collecting)
      expect(collected.map((s) => s._tag === "Recovering" ? `Recovering:${s.reason}` : s._tag === "Stalled" ? `Stalled:${s.overdue}` : s._tag))
        .toEqual([
          "Running",
          "Recovering:Disconnected",
          "Recovering:Reconnected",
          "Running",
          "Stalled:1",
          "Stalled:2",
          "Stalled:1",
          "Running",
          "Failed"
        ])
      expect(yield* Stream.runCollect(tracker.changes)).toEqual([{ _tag: "Failed", error: stopped, since: 0 }])
    }))

  it.effect("close ends changes; state stays readable", () =>
    Effect.gen(function*() {
      const tracker = yield* makeTracker()
      const collecting = yield* Effect.forkChild(Stream.runCollect(tracker.changes))
      yield* Effect.yieldNow
      tracker.close()
      tracker.recovering("Disconnected", "lost")
      expect((yield* Fiber.join(collecting)).map((s) => s._tag)).toEqual(["Running"])
      expect((yield* tracker.state)._tag).toBe("Recovering")
    }))

  it.effect("watchIdle: one idle period per gap without deliveries, since the last delivery", () =>
    Effect.gen(function*() {
      const tracker = yield* makeTracker(() => 0, 1_000)
      yield* Effect.forkChild(tracker.watchIdle)
      yield* TestClock.adjust(999)
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: undefined, inFlight: 0, idleSince: undefined })
      yield* TestClock.adjust(1)
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: undefined, inFlight: 0, idleSince: 0 })
      yield* TestClock.adjust(1_500)
      tracker.received()
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: 2_500, inFlight: 0, idleSince: undefined })
      yield* TestClock.adjust(999)
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: 2_500, inFlight: 0, idleSince: undefined })
      yield* TestClock.adjust(1)
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: 2_500, inFlight: 0, idleSince: 2_500 })
    }))

  it.effect("without idleWarningMillis, watchIdle ends at once and nothing is ever idle", () =>
    Effect.gen(function*() {
      const tracker = yield* makeTracker()
      yield* tracker.watchIdle
      yield* TestClock.adjust(3_600_000)
      expect(yield* tracker.state).toEqual({ _tag: "Running", lastMessageAt: undefined, inFlight: 0, idleSince: undefined })
    }))
})
