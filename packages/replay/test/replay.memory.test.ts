/**
 * Replays on the in-memory transport, under `TestClock`: the shared suite,
 * pacing and progress.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fixtures, MemoryTransport } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { Replay } from "../src/index.ts"
import { replaySuite } from "./replaySuite.ts"

describe("Replay on the memory transport", () => {
  replaySuite({
    tick: TestClock.adjust("1 millis"),
    test: (name, body) => it.effect(name, () => Effect.scoped(Effect.provide(body(), MemoryTransport.layer)))
  })

  const seeded = (gaps: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      yield* Topology.ensure({ streams: [{ name: "PACE", subjects: ["pace.>"] }] })
      const log = yield* EventLog.EventLog
      for (let i = 0; i < gaps.length; i++) {
        yield* TestClock.adjust(gaps[i]!)
        yield* log.append("pace.x", Fixtures.envelope({ identity: i + 1 }))
      }
    })

  it.effect("pace original: the gaps between the stored timestamps, through Clock", () =>
    Effect.gen(function*() {
      yield* seeded([0, 1000, 2000, 500])
      const replay = yield* Replay.bySequence("PACE", { pace: "original" })
      const got: Array<number> = []
      const fiber = yield* Effect.forkChild(Stream.runForEach(replay.messages, (m) => Effect.sync(() => void got.push(m.sequence))))
      yield* Effect.yieldNow
      assert.deepStrictEqual(got, [1])
      yield* TestClock.adjust(999)
      assert.deepStrictEqual(got, [1])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(got, [1, 2])
      yield* TestClock.adjust(2000)
      assert.deepStrictEqual(got, [1, 2, 3])
      yield* TestClock.adjust(500)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(got, [1, 2, 3, 4])
    }).pipe(Effect.provide(MemoryTransport.layer)))

  it.effect("pace speed and perSecond", () =>
    Effect.gen(function*() {
      yield* seeded([0, 1000, 1000, 1000])
      const fast = yield* Replay.bySequence("PACE", { pace: { speed: 4 } })
      const fastFiber = yield* Effect.forkChild(Stream.runCollect(fast.messages))
      yield* TestClock.adjust(749)
      assert.isUndefined(fastFiber.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.strictEqual(Array.from(yield* Fiber.join(fastFiber)).length, 4)
      const rate = yield* Replay.bySequence("PACE", { pace: { perSecond: 2 } })
      const progress: Array<Replay.Progress> = []
      const watch = yield* Effect.forkChild(Stream.runForEach(rate.progress, (p) => Effect.sync(() => void progress.push(p))))
      const rateFiber = yield* Effect.forkChild(Stream.runCollect(rate.messages))
      yield* TestClock.adjust(1499)
      assert.isUndefined(rateFiber.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.strictEqual(Array.from(yield* Fiber.join(rateFiber)).length, 4)
      yield* Fiber.join(watch)
      const last = progress[progress.length - 1]!
      assert.deepStrictEqual([last.done, last.total, last.finished, last.elapsedMillis], [4, 4, true, 1500])
      const mid = progress.find((p) => p.done === 2)!
      // two sequences in 500 ms: 4 per second, two more take 500 ms
      assert.deepStrictEqual([mid.rate, mid.remainingMillis], [4, 500])
    }).pipe(Effect.provide(MemoryTransport.layer)))

  it.effect("raw: paced and counted as decoded, a foreign message included", () =>
    Effect.gen(function*() {
      yield* seeded([0, 1000, 2000, 500])
      const log = yield* EventLog.EventLog
      yield* TestClock.adjust(1000)
      yield* log.appendRaw("pace.legacy", { headers: { "Legacy-Id": "L-5" }, body: new TextEncoder().encode("legacy") })
      const original = yield* Replay.bySequence("PACE", { pace: "original" })
      const got: Array<number> = []
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(original.rawMessages, (m) => Effect.sync(() => void got.push(m.sequence)))
      )
      yield* Effect.yieldNow
      assert.deepStrictEqual(got, [1])
      yield* TestClock.adjust(3499)
      assert.deepStrictEqual(got, [1, 2, 3])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(got, [1, 2, 3, 4])
      yield* TestClock.adjust(999)
      assert.deepStrictEqual(got, [1, 2, 3, 4])
      yield* TestClock.adjust(1)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(got, [1, 2, 3, 4, 5])
      const rate = yield* Replay.bySequence("PACE", { pace: { perSecond: 2 } })
      const progress: Array<Replay.Progress> = []
      const watch = yield* Effect.forkChild(Stream.runForEach(rate.progress, (p) => Effect.sync(() => void progress.push(p))))
      const rateFiber = yield* Effect.forkChild(Stream.runCollect(rate.rawEvents))
      yield* TestClock.adjust(1999)
      assert.isUndefined(rateFiber.pollUnsafe())
      yield* TestClock.adjust(1)
      const events = Array.from(yield* Fiber.join(rateFiber))
      assert.deepStrictEqual(events.map((e) => e._tag === "Message" ? e.message.sequence : -1), [1, 2, 3, 4, 5])
      yield* Fiber.join(watch)
      const last = progress[progress.length - 1]!
      assert.deepStrictEqual([last.done, last.total, last.messages, last.finished, last.elapsedMillis], [5, 5, 5, true, 2000])
    }).pipe(Effect.provide(MemoryTransport.layer)))
})
