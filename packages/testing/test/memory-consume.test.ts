import { ConsumerPolicy, DeadLetter, EventLog, Topology, TransportError } from "@herald/transport"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import { envelope, nOf, run } from "./memory-helpers.ts"

const setup = (count: number, consumer?: Partial<Topology.ConsumerConfig>) =>
  Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    yield* Topology.ensure({
      streams: [{ name: "ORDERS", subjects: ["orders.>"] }, Topology.deadLetterStream()],
      consumers: [{ stream: "ORDERS", name: "c", ...consumer }]
    })
    for (let n = 1; n <= count; n++) yield* log.append("orders.x", envelope(n))
    return log
  })

const lagCounts = EventLog.EventLog.use((log) =>
  Effect.map(log.lag("ORDERS", "c"), (l) => [l.pending, l.ackPending, l.redelivered, l.delivered, l.ackFloor])
)
const deadLetters = MemoryTransport.MemoryTransport.use((m) => m.streamMessages("HERALD_DLQ"))

/** Lets forked fibers run until `done` holds (no time passes). */
const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    expect(done()).toBe(true)
  })

const zeroStats = { acked: 0, naked: 0, termed: 0, deadLettered: 0, inFlight: 0, timedOut: 0 }

describe("MemoryTransport consume", () => {
  it.effect("10,000 appends, consumed in order: each message acked exactly once", () =>
    run(Effect.gen(function*() {
      const total = 10_000
      const log = yield* setup(total)
      const seen: Array<number> = []
      const done = Deferred.makeUnsafe<void>()
      const handle = yield* log.consume("ORDERS", "c", (d) =>
        Effect.sync(() => {
          seen.push(d.streamSequence)
          if (seen.length === total) Deferred.doneUnsafe(done, Effect.void)
        }))
      yield* Deferred.await(done)
      let stats = yield* handle.stats
      yield* settle(() => (stats = Effect.runSync(handle.stats)).acked === total)
      expect(stats).toEqual({ ...zeroStats, acked: total })
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      expect(yield* lagCounts).toEqual([0, 0, 0, total, total])
    })), 60_000)

  it.effect("10,000 appends while 8 handlers consume: appended = acked, none twice", () =>
    run(Effect.gen(function*() {
      const total = 10_000
      const log = yield* setup(total / 2)
      const times = new Map<number, number>()
      const handle = yield* log.consume("ORDERS", "c", (d) =>
        Effect.andThen(Effect.yieldNow, Effect.sync(() => void times.set(d.streamSequence, (times.get(d.streamSequence) ?? 0) + 1))), { concurrency: 8 })
      for (let n = total / 2 + 1; n <= total; n++) {
        yield* log.append("orders.y", envelope(n))
        if (n % 100 === 0) yield* Effect.yieldNow
      }
      let stats = yield* handle.stats
      yield* settle(() => (stats = Effect.runSync(handle.stats)).acked === total && stats.inFlight === 0)
      expect(stats).toEqual({ ...zeroStats, acked: total })
      expect(times.size).toBe(total)
      expect([...times.values()].every((k) => k === 1)).toBe(true)
      expect((yield* log.info("ORDERS")).lastSequence).toBe(total)
      expect(yield* lagCounts).toEqual([0, 0, 0, total, total])
    })), 60_000)

  it.effect("graceful shutdown: no new deliveries, in-flight handlers finish, the rest are interrupted and nak'd", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(4, { ackWait: "1 hour" })
      const started: Array<number> = []
      const finished: Array<number> = []
      const scope = yield* Scope.make()
      const handle = yield* Scope.provide(scope)(log.consume("ORDERS", "c", (d) =>
        Effect.gen(function*() {
          started.push(nOf(d))
          yield* Effect.sleep(nOf(d) === 1 ? "3 seconds" : "1 hour")
          finished.push(nOf(d))
        }), { concurrency: 2 }))
      yield* settle(() => started.length === 2)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("3 seconds")
      expect(finished).toEqual([1])
      expect(yield* handle.stats).toEqual({ ...zeroStats, acked: 1, inFlight: 1 })
      expect(closing.pollUnsafe()).toBeUndefined()
      // The default shutdown timeout is 10 seconds.
      yield* TestClock.adjust("6999 millis")
      expect(closing.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(closing)
      expect(started).toEqual([1, 2])
      expect(yield* handle.stats).toEqual({ ...zeroStats, acked: 1, naked: 1 })
      // 2 was nak'd (due again at once), 3 and 4 were never delivered.
      expect(yield* lagCounts).toEqual([2, 1, 1, 2, 1])
      // A new runner picks everything up; nothing is acked twice.
      const again: Array<[number, number]> = []
      const next = yield* log.consume("ORDERS", "c", (d) => Effect.sync(() => void again.push([nOf(d), d.deliveryCount])))
      yield* settle(() => again.length === 3)
      yield* settle(() => Effect.runSync(next.stats).acked === 3)
      expect(again).toEqual([[2, 2], [3, 1], [4, 1]])
      expect(yield* lagCounts).toEqual([0, 0, 0, 4, 4])
    })))

  it.effect("a handler that settles its delivery itself is left alone", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(1)
      const seen: Array<[number, number]> = []
      const handle = yield* log.consume("ORDERS", "c", (d) =>
        Effect.gen(function*() {
          seen.push([d.deliveryCount, yield* Clock.currentTimeMillis])
          if (d.deliveryCount === 1) return yield* d.nak("2 seconds")
          yield* d.term("done")
          return yield* Effect.fail("ignored")
        }))
      yield* settle(() => seen.length === 1)
      yield* TestClock.adjust("2 seconds")
      yield* settle(() => seen.length === 2)
      yield* settle(() => Effect.runSync(handle.stats).termed === 1)
      expect(seen).toEqual([[1, 0], [2, 2000]])
      expect(yield* handle.stats).toEqual({ ...zeroStats, naked: 1, termed: 1 })
      expect(yield* deadLetters).toEqual([])
    })))

  it.effect("defects and interruptions of a handler are retryable failures; the runner survives", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(2)
      const seen: Array<[number, number, number]> = []
      const handle = yield* log.consume("ORDERS", "c", (d) =>
        Effect.gen(function*() {
          seen.push([nOf(d), d.deliveryCount, yield* Clock.currentTimeMillis])
          if (d.deliveryCount > 1) return
          return yield* (nOf(d) === 1 ? Effect.die(new Error("bug")) : Effect.interrupt)
        }))
      yield* settle(() => seen.length === 2)
      // The default nak delay after a first delivery is 1 second.
      yield* TestClock.adjust("1 second")
      yield* settle(() => Effect.runSync(handle.stats).acked === 2)
      expect(seen).toEqual([[1, 1, 0], [2, 1, 0], [1, 2, 1000], [2, 2, 1000]])
      expect(yield* handle.stats).toEqual({ ...zeroStats, acked: 2, naked: 2 })
    })))

  it.effect("a failure on the last allowed delivery is dead-lettered once, by the runner", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(1, { maxDeliver: 2, ackWait: "5 seconds" })
      let calls = 0
      const handle = yield* log.consume("ORDERS", "c", () =>
        Effect.suspend(() => {
          calls++
          return Effect.fail(new Error(`attempt ${calls}`))
        }), { nakDelay: () => "100 millis" })
      yield* settle(() => calls === 1)
      yield* TestClock.adjust("100 millis")
      yield* settle(() => Effect.runSync(handle.stats).deadLettered === 1)
      yield* TestClock.adjust("1 minute")
      expect(calls).toBe(2)
      expect(yield* handle.stats).toEqual({ ...zeroStats, naked: 1, termed: 1, deadLettered: 1 })
      const letters = yield* deadLetters
      expect(letters.length).toBe(1)
      expect(DeadLetter.parse(letters[0]!.raw)).toMatchObject({
        reason: "failed on delivery 2 of 2: attempt 2",
        deliveryCount: 2,
        sequence: 1,
        failedAt: 100
      })
      expect(yield* lagCounts).toEqual([0, 0, 0, 1, 1])
    })))

  it.effect("deadLetterSubject overrides the consumer's, also for ack-wait exhaustion while the runner runs", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(2, { maxDeliver: 1, ackWait: "1 second" })
      const memory = yield* MemoryTransport.MemoryTransport
      yield* Topology.Topology.use((t) => t.ensureStream({ name: "CUSTOM", subjects: ["custom.dlq"] }))
      yield* log.consume("ORDERS", "c", (d) =>
        nOf(d) === 1
          ? Effect.fail(TransportError.make(new TransportError.DecodeError({ detail: "bad" })))
          : Effect.never, { deadLetterSubject: "custom.dlq", concurrency: 2, shutdownTimeout: 0, handlerDeadline: "none" })
      yield* TestClock.adjust("1 second")
      const letters = (yield* memory.streamMessages("CUSTOM")).map((m) => DeadLetter.parse(m.raw))
      expect(letters.map((l) => [l?.sequence, l?.reason])).toEqual([
        [1, "non-retryable failure: TransportError: cannot decode: bad"],
        [2, ConsumerPolicy.maxDeliveriesReason(1)]
      ])
      expect(yield* deadLetters).toEqual([])
    })))

  it.effect("the client-side maxAckPending bounds the handlers at once", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(6)
      let running = 0
      let maxRunning = 0
      let done = 0
      yield* log.consume("ORDERS", "c", () =>
        Effect.gen(function*() {
          running++
          maxRunning = Math.max(maxRunning, running)
          yield* Effect.sleep("1 second")
          running--
          done++
        }), { concurrency: 5, maxAckPending: 2 })
      yield* settle(() => running === 2)
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      expect(done).toBe(6)
      expect(maxRunning).toBe(2)
    })))

  it.effect("await fails with ConsumerNotFound or StreamNotFound when they are deleted under the runner", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(0)
      const topology = yield* Topology.Topology
      const handle = yield* log.consume("ORDERS", "c", () => Effect.void)
      const waiting = yield* Effect.forkChild(handle.await)
      yield* Effect.yieldNow
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* topology.deleteConsumer("ORDERS", "c")
      const exit = yield* Fiber.await(waiting)
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error.reason._tag : "")
        .toBe("ConsumerNotFound")
      yield* topology.ensureConsumer({ stream: "ORDERS", name: "c" })
      const second = yield* log.consume("ORDERS", "c", () => Effect.void)
      yield* Effect.yieldNow
      yield* topology.deleteStream("ORDERS")
      const secondExit = yield* Effect.exit(second.await)
      expect(
        Exit.isFailure(secondExit) && secondExit.cause.reasons[0]?._tag === "Fail"
          ? secondExit.cause.reasons[0].error.reason
          : undefined
      ).toMatchObject({ _tag: "StreamNotFound", stream: "ORDERS" })
    })))

  it.effect("idleWarning under TestClock: one warning per idle period, shown as idleSince until the next delivery", () => {
    const warnings: Array<string> = []
    const collector = Logger.make((options) => {
      if (options.logLevel === "Warn") warnings.push(String(options.message))
    })
    return run(Effect.gen(function*() {
      const log = yield* setup(0)
      const start = yield* Clock.currentTimeMillis
      let handled = 0
      const handle = yield* log.consume("ORDERS", "c", () => Effect.sync(() => void handled++), { idleWarning: "10 seconds" })
      yield* TestClock.adjust("9999 millis")
      expect(yield* handle.state).toEqual({ _tag: "Running", lastMessageAt: undefined, inFlight: 0, idleSince: undefined })
      expect(warnings).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(yield* handle.state).toEqual({ _tag: "Running", lastMessageAt: undefined, inFlight: 0, idleSince: start })
      // Once per idle period, however long it lasts.
      yield* TestClock.adjust("95 seconds")
      expect(warnings).toEqual([
        "memory transport: consumer ORDERS/c: no message for 10000 ms (idle warning after 10000 ms)"
      ])
      yield* log.append("orders.x", envelope(1))
      yield* settle(() => handled === 1)
      const received = start + 105_000
      expect((yield* handle.stats).acked).toBe(1)
      expect(yield* handle.state).toEqual({ _tag: "Running", lastMessageAt: received, inFlight: 0, idleSince: undefined })
      yield* TestClock.adjust("9999 millis")
      expect(warnings.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* handle.state).toEqual({ _tag: "Running", lastMessageAt: received, inFlight: 0, idleSince: received })
      expect(warnings.length).toBe(2)
      expect((yield* handle.stats).acked).toBe(1)
    })).pipe(Effect.provideService(References.CurrentLoggers, new Set([collector])))
  })

  it.effect("a runner whose stream is deleted ends Failed with the very error await fails with", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(0)
      const topology = yield* Topology.Topology
      const handle = yield* log.consume("ORDERS", "c", () => Effect.void)
      yield* topology.deleteStream("ORDERS")
      const error = yield* Effect.flip(handle.await)
      const state = yield* handle.state
      expect(state._tag).toBe("Failed")
      expect(state._tag === "Failed" ? state.error : undefined).toBe(error)
      expect(error.reason._tag).toBe("StreamNotFound")
    })))
})
