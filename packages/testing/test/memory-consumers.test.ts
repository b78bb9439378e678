import { ConsumerPolicy, DeadLetter, EventLog, Topology } from "@herald/transport"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import { envelope, nOf, reasonOf, run } from "./memory-helpers.ts"

/** Stream ORDERS on `orders.>` with `count` messages on `orders.x`, a DLQ stream, and a consumer. */
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

/** A pull that must find deliveries ready (it would wait on the TestClock otherwise). */
const pullReady = (batch = 100) =>
  EventLog.EventLog.use((log) => log.pull("ORDERS", "c", { batch, expires: "1 hour" }))

/** Whether a pull would find something now: forks it, lets it run, and interrupts it if it waits. */
const pullIfReady = (batch = 100) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(pullReady(batch), { startImmediately: true })
    yield* Effect.yieldNow
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) return yield* exit
    yield* Fiber.interrupt(fiber)
    return []
  })

const lag = EventLog.EventLog.use((log) => log.lag("ORDERS", "c"))
const lagCounts = Effect.map(lag, (l) => [l.pending, l.ackPending, l.redelivered, l.delivered, l.ackFloor])
const deadLetters = MemoryTransport.MemoryTransport.use((m) => m.streamMessages("HERALD_DLQ"))

describe("MemoryTransport durable consumers", () => {
  it.effect("a waiting pull wakes when a message is appended, without the clock moving", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(0)
      const fiber = yield* Effect.forkChild(log.pull("ORDERS", "c", { batch: 5, expires: "30 seconds" }))
      yield* Effect.yieldNow
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* log.append("orders.x", envelope(1))
      const got = yield* Fiber.join(fiber)
      expect(got.map(nOf)).toEqual([1])
      expect(yield* Clock.currentTimeMillis).toBe(0)
    })))

  it.effect("a pull waits up to expires, then answers empty", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(0)
      const fiber = yield* Effect.forkChild(log.pull("ORDERS", "c"))
      yield* TestClock.adjust("999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toEqual([])
    })))

  it.effect("a waiting pull wakes when a redelivery becomes due", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(1, { ackWait: "5 seconds" })
      const [first] = yield* pullReady()
      const fiber = yield* Effect.forkChild(log.pull("ORDERS", "c", { expires: "1 minute" }))
      yield* TestClock.adjust("4999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const [second] = yield* Fiber.join(fiber)
      expect([second!.streamSequence, second!.deliveryCount, second!.consumerSequence]).toEqual([1, 2, 2])
      expect(second!.envelope.identity.messageId).toBe(first!.envelope.identity.messageId)
      expect(yield* Clock.currentTimeMillis).toBe(5000)
    })))

  it.effect("maxAckPending stops new deliveries but not redeliveries; redeliveries come first, in order", () =>
    run(Effect.gen(function*() {
      yield* setup(6, { ackWait: "1 second", maxAckPending: 3 })
      const first = yield* pullReady()
      expect(first.map(nOf)).toEqual([1, 2, 3])
      expect(yield* pullIfReady()).toEqual([])
      yield* TestClock.adjust("1 second")
      // All three timed out: redelivered (in sequence order), still no room for 4.
      const second = yield* pullReady()
      expect(second.map((d) => [nOf(d), d.deliveryCount])).toEqual([[1, 2], [2, 2], [3, 2]])
      expect(yield* lagCounts).toEqual([3, 3, 3, 3, 0])
      // Acking the *first* delivery of 2 settles the message, as on NATS.
      yield* first[1]!.ack
      const third = yield* pullReady()
      expect(third.map((d) => [nOf(d), d.deliveryCount])).toEqual([[4, 1]])
      // 1 and 3 are still unacknowledged: the ack floor stays at 0.
      expect(yield* lagCounts).toEqual([2, 3, 2, 4, 0])
      // A nak of an old delivery is ignored (it was redelivered since).
      yield* first[0]!.nak()
      expect(yield* pullIfReady()).toEqual([])
      // The current one does take effect; 1 comes back before anything new.
      yield* second[0]!.nak()
      yield* third[0]!.ack
      const fourth = yield* pullReady()
      expect(fourth.map((d) => [nOf(d), d.deliveryCount])).toEqual([[1, 3], [5, 1]])
      yield* Effect.forEach([...fourth, second[2]!], (d) => d.ack)
      const last = yield* pullReady()
      expect(last.map(nOf)).toEqual([6])
      yield* last[0]!.ack
      expect(yield* lagCounts).toEqual([0, 0, 0, 6, 6])
    })))

  it.effect("maxDeliver: after the last delivery times out, the engine dead-letters the message once", () =>
    run(Effect.gen(function*() {
      yield* setup(2, { ackWait: "1 second", maxDeliver: 2 })
      const [one, two] = yield* pullReady()
      yield* two!.ack
      yield* TestClock.adjust("1 second")
      const [again] = yield* pullReady()
      expect([nOf(again!), again!.deliveryCount]).toEqual([1, 2])
      expect(yield* deadLetters).toEqual([])
      // Nobody pulls: the server's timer does it.
      yield* TestClock.adjust("1 second")
      const letters = yield* deadLetters
      expect(letters.map((l) => l.subject)).toEqual(["herald.dlq.ORDERS.c"])
      const info = DeadLetter.parse(letters[0]!.raw)
      expect(info).toMatchObject({
        reason: ConsumerPolicy.maxDeliveriesReason(2),
        stream: "ORDERS",
        consumer: "c",
        sequence: 1,
        subject: "orders.x",
        deliveryCount: 2,
        failedAt: 2000
      })
      yield* TestClock.adjust("1 minute")
      expect((yield* deadLetters).length).toBe(1)
      expect(yield* lagCounts).toEqual([0, 0, 0, 2, 2])
      // Settling a delivery after the fact changes nothing.
      yield* one!.ack
      yield* again!.nak()
      expect(yield* pullIfReady()).toEqual([])
    })))

  it.effect("backoff overrides ackWait, by delivery count, the last step repeating", () =>
    run(Effect.gen(function*() {
      yield* setup(1, { ackWait: "1 minute", backoff: ["1 second", "5 seconds"], maxDeliver: 4 })
      const times: Array<number> = []
      for (let i = 0; i < 4; i++) {
        const log = yield* EventLog.EventLog
        const [d] = yield* log.pull("ORDERS", "c", { expires: "1 hour" }).pipe(Effect.forkChild, Effect.tap(() =>
          TestClock.adjust(i === 0 ? "0 millis" : i === 1 ? "1 second" : "5 seconds")
        ), Effect.flatMap(Fiber.join))
        times.push(yield* Clock.currentTimeMillis)
        expect(d!.deliveryCount).toBe(i + 1)
      }
      expect(times).toEqual([0, 1000, 6000, 11000])
      yield* TestClock.adjust("5 seconds")
      expect((yield* deadLetters).length).toBe(1)
    })))

  it.effect("inProgress pushes the deadline back by a full ack wait", () =>
    run(Effect.gen(function*() {
      yield* setup(1, { ackWait: "10 seconds" })
      const [d] = yield* pullReady()
      yield* TestClock.adjust("9 seconds")
      yield* d!.inProgress
      yield* TestClock.adjust("9999 millis")
      expect(yield* pullIfReady()).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect((yield* pullIfReady()).map((x) => x.deliveryCount)).toEqual([1 + 1])
    })))

  it.effect("nak with a delay redelivers exactly after the delay", () =>
    run(Effect.gen(function*() {
      yield* setup(1, { ackWait: "1 minute" })
      const [d] = yield* pullReady()
      yield* d!.nak("2 seconds")
      yield* TestClock.adjust("1999 millis")
      expect(yield* pullIfReady()).toEqual([])
      expect((yield* lag).redelivered).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect((yield* pullIfReady()).map((x) => x.deliveryCount)).toEqual([2])
    })))

  it.effect("deleting the consumer or the stream fails waiting pulls", () =>
    run(Effect.gen(function*() {
      const log = yield* setup(0)
      const topology = yield* Topology.Topology
      const waiting = yield* Effect.forkChild(log.pull("ORDERS", "c", { expires: "1 hour" }))
      yield* Effect.yieldNow
      yield* topology.deleteConsumer("ORDERS", "c")
      expect(reasonOf(yield* Fiber.await(waiting))).toMatchObject({ _tag: "ConsumerNotFound", consumer: "c" })
      yield* topology.ensureConsumer({ stream: "ORDERS", name: "c" })
      const again = yield* Effect.forkChild(log.pull("ORDERS", "c", { expires: "1 hour" }))
      yield* Effect.yieldNow
      yield* topology.deleteStream("ORDERS")
      expect(reasonOf(yield* Fiber.await(again))).toMatchObject({ _tag: "StreamNotFound", stream: "ORDERS" })
    })))

  it.effect("deliver policies on a stream whose first messages are gone", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: "ORDERS", subjects: ["orders.>"], maxMessages: 3 })
      for (let n = 1; n <= 5; n++) yield* log.append(n % 2 === 0 ? "orders.even" : "orders.odd", envelope(n))
      const first = (name: string, deliverPolicy: Topology.DeliverPolicy, filterSubject?: string) =>
        Effect.gen(function*() {
          yield* topology.ensureConsumer({
            stream: "ORDERS",
            name,
            deliverPolicy,
            ...(filterSubject === undefined ? {} : { filterSubject })
          })
          const l = yield* log.lag("ORDERS", name)
          const got = yield* log.pull("ORDERS", name, { batch: 10, expires: "1 hour" })
          return { pending: l.pending, delivered: l.delivered, got: got.map((d) => d.streamSequence) }
        })
      expect(yield* first("all", Topology.DeliverPolicy.all)).toEqual({ pending: 3, delivered: 2, got: [3, 4, 5] })
      expect(yield* first("last", Topology.DeliverPolicy.last, "orders.even")).toEqual({
        pending: 1,
        delivered: 3,
        got: [4]
      })
      expect(yield* first("lps", Topology.DeliverPolicy.lastPerSubject)).toEqual({
        pending: 2,
        delivered: 3,
        got: [4, 5]
      })
      expect(yield* first("seq", Topology.DeliverPolicy.byStartSequence(1))).toEqual({
        pending: 3,
        delivered: 0,
        got: [3, 4, 5]
      })
    })))
})
