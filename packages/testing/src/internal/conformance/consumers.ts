/**
 * Conformance tests of durable pull consumers: filters, deliver policies,
 * ack, nak, term, inProgress, ack wait, maxDeliver, maxAckPending, backoff,
 * retention, lag.
 *
 * @internal
 */
import { EventLog, Topology, Wire } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { SuiteContext } from "./context.ts"
import { ensure, info, lag, lagCounts, readAll } from "./helpers.ts"
import { failsWith, type Kit, nOf } from "./kit.ts"

const ackAll = (deliveries: ReadonlyArray<EventLog.Delivery>) =>
  Effect.forEach(deliveries, (d) => d.ack, { discard: true })

/** A stream `<P>_ORDERS` on `<p>.orders.>` with `count` messages `n = 1..count` on `<p>.orders.x`. */
const ordersWith = (kit: Kit, count: number, stream?: Partial<Topology.StreamConfig>) =>
  Effect.gen(function*() {
    const s = kit.name("orders")
    yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], ...stream }])
    const log = yield* EventLog.EventLog
    for (let n = 1; n <= count; n++) yield* log.append(kit.subject("orders", "x"), kit.envelope(n))
    return s
  })

const consumer = (kit: Kit, stream: string, config?: Partial<Topology.ConsumerConfig>) =>
  Effect.gen(function*() {
    const c = kit.name("c")
    yield* ensure([], [{ stream, name: c, ...config }])
    return c
  })

const deliveryPolicyTest = (
  kit: Kit,
  policy: Topology.DeliverPolicy,
  setup: (append: (subject: string, n: number) => Effect.Effect<void, unknown, EventLog.EventLog>) => Effect.Effect<void, unknown, EventLog.EventLog>
) =>
  Effect.gen(function*() {
    const s = kit.name("orders")
    yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
    const log = yield* EventLog.EventLog
    const append = (subject: string, n: number) => Effect.asVoid(log.append(subject, kit.envelope(n)))
    yield* setup(append)
    const c = kit.name("c")
    yield* ensure([], [{ stream: s, name: c, deliverPolicy: policy, filterSubject: kit.subject("orders", ">") }])
    return { s, c, append }
  })

/** @internal */
export const register = ({ test }: SuiteContext): void => {
  test("a durable consumer with a filter subject gets only the matching messages, in order", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      const log = yield* EventLog.EventLog
      const created = kit.subject("orders", "created")
      const shipped = kit.subject("orders", "shipped")
      yield* log.append(created, kit.envelope(1))
      yield* log.append(shipped, kit.envelope(2))
      yield* log.append(created, kit.envelope(3))
      yield* log.append(shipped, kit.envelope(4))
      const filtered = yield* consumer(kit, s, { filterSubject: created })
      const everything = kit.name("all")
      yield* ensure([], [{ stream: s, name: everything }])
      assert.strictEqual((yield* lag(s, filtered)).pending, 2)
      assert.strictEqual((yield* lag(s, everything)).pending, 4)

      const got = yield* kit.fetch(s, filtered, { batch: 10 })
      assert.deepStrictEqual(got.map(nOf), [1, 3])
      assert.deepStrictEqual(got.map((d) => d.subject), [created, created])
      assert.deepStrictEqual(got.map((d) => d.streamSequence), [1, 3])
      assert.deepStrictEqual(got.map((d) => d.consumerSequence), [1, 2])
      assert.deepStrictEqual(got.map((d) => d.deliveryCount), [1, 1])
      assert.deepStrictEqual(got.map((d) => d.pending), [1, 0])
      assert.deepStrictEqual(got.map((d) => [d.stream, d.consumer]), [[s, filtered], [s, filtered]])
      assert.strictEqual(got[0]!.envelope.identity.messageId, kit.envelope(1).identity.messageId)
      assert.strictEqual(Wire.header(got[0]!.raw, Wire.HeaderNames.messageId), kit.envelope(1).identity.messageId)
      assert.isTrue(Number.isFinite(got[0]!.timestamp))
      yield* ackAll(got)

      // Consumers are independent: the other one still gets everything.
      const rest = yield* kit.fetch(s, everything, { batch: 10 })
      assert.deepStrictEqual(rest.map(nOf), [1, 2, 3, 4])
      yield* ackAll(rest)
      // A message appended later reaches the filtered consumer only if it matches.
      yield* log.append(shipped, kit.envelope(5))
      yield* log.append(created, kit.envelope(6))
      assert.deepStrictEqual((yield* kit.fetch(s, filtered, { batch: 10 })).map(nOf), [6])
    }))

  test("pull from an unknown consumer fails with ConsumerNotFound", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const log = yield* EventLog.EventLog
      const missing = kit.name("missing")
      const reason = yield* failsWith(kit.fetch(s, missing), "ConsumerNotFound")
      assert.strictEqual(reason.stream, s)
      assert.strictEqual(reason.consumer, missing)
      assert.strictEqual((yield* failsWith(log.lag(s, missing), "ConsumerNotFound")).consumer, missing)
      assert.strictEqual((yield* failsWith(kit.fetch(kit.name("nostream"), missing), "StreamNotFound")).stream, kit.name("nostream"))
    }))

  test("deliver policy All starts at the first stored message", (kit) =>
    Effect.gen(function*() {
      const { s, c } = yield* deliveryPolicyTest(kit, Topology.DeliverPolicy.all, (append) =>
        Effect.gen(function*() {
          for (let n = 1; n <= 3; n++) yield* append(kit.subject("orders", "x"), n)
        }))
      assert.deepStrictEqual((yield* kit.fetch(s, c, { batch: 10 })).map((d) => d.streamSequence), [1, 2, 3])
    }))

  test("deliver policy New starts after the messages stored before the consumer was created", (kit) =>
    Effect.gen(function*() {
      const { s, c, append } = yield* deliveryPolicyTest(kit, Topology.DeliverPolicy.new, (append) =>
        Effect.gen(function*() {
          yield* append(kit.subject("orders", "x"), 1)
          yield* append(kit.subject("orders", "x"), 2)
        }))
      assert.deepStrictEqual(yield* kit.fetch(s, c, { batch: 10 }), [])
      yield* append(kit.subject("orders", "x"), 3)
      const got = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(got.map((d) => [d.streamSequence, nOf(d)]), [[3, 3]])
    }))

  test("deliver policy Last starts at the last stored message", (kit) =>
    Effect.gen(function*() {
      const { s, c, append } = yield* deliveryPolicyTest(kit, Topology.DeliverPolicy.last, (append) =>
        Effect.gen(function*() {
          for (let n = 1; n <= 3; n++) yield* append(kit.subject("orders", n === 3 ? "y" : "x"), n)
        }))
      const first = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(first.map((d) => d.streamSequence), [3])
      yield* ackAll(first)
      yield* append(kit.subject("orders", "x"), 4)
      assert.deepStrictEqual((yield* kit.fetch(s, c, { batch: 10 })).map((d) => d.streamSequence), [4])
    }))

  test("deliver policy LastPerSubject starts at the last message of each subject", (kit) =>
    Effect.gen(function*() {
      const { s, c } = yield* deliveryPolicyTest(kit, Topology.DeliverPolicy.lastPerSubject, (append) =>
        Effect.gen(function*() {
          yield* append(kit.subject("orders", "a"), 1)
          yield* append(kit.subject("orders", "b"), 2)
          yield* append(kit.subject("orders", "a"), 3)
          yield* append(kit.subject("orders", "c"), 4)
          yield* append(kit.subject("orders", "b"), 5)
        }))
      const got = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(got.map((d) => d.streamSequence), [3, 4, 5])
    }), { feature: "deliverLastPerSubject" })

  test("deliver policy ByStartSequence starts at that sequence", (kit) =>
    Effect.gen(function*() {
      const { s, c } = yield* deliveryPolicyTest(kit, Topology.DeliverPolicy.byStartSequence(3), (append) =>
        Effect.gen(function*() {
          for (let n = 1; n <= 4; n++) yield* append(kit.subject("orders", "x"), n)
        }))
      assert.deepStrictEqual((yield* kit.fetch(s, c, { batch: 10 })).map((d) => d.streamSequence), [3, 4])
    }))

  test("deliver policy ByStartTime starts at the first message stored at or after that time", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(1))
      yield* log.append(kit.subject("orders", "x"), kit.envelope(2))
      yield* kit.advance("500 millis")
      const mark = yield* kit.now
      yield* kit.advance("500 millis")
      yield* log.append(kit.subject("orders", "x"), kit.envelope(3))
      yield* log.append(kit.subject("orders", "x"), kit.envelope(4))
      const byTime = kit.name("bytime")
      yield* ensure([], [{ stream: s, name: byTime, deliverPolicy: Topology.DeliverPolicy.byStartTime(mark) }])
      assert.deepStrictEqual((yield* kit.fetch(s, byTime, { batch: 10 })).map(nOf), [3, 4])
      // A start time before everything delivers everything.
      const early = kit.name("early")
      yield* ensure([], [{ stream: s, name: early, deliverPolicy: Topology.DeliverPolicy.byStartTime(Math.max(0, mark - 60_000)) }])
      assert.deepStrictEqual((yield* kit.fetch(s, early, { batch: 10 })).map(nOf), [1, 2, 3, 4])
    }), { feature: "deliverByStartTime" })

  test("ack: an acknowledged delivery is not redelivered after the ack wait; later settlements are ignored", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "1 second" })
      const [d] = yield* kit.fetch(s, c)
      assert.strictEqual(d!.deliveryCount, 1)
      yield* d!.ack
      yield* Effect.ignore(d!.nak())
      yield* Effect.ignore(d!.term("too late"))
      yield* kit.advance("1500 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [])
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 0,
        ackPending: 0,
        redelivered: 0,
        delivered: 1,
        ackFloor: 1
      })
    }))

  test("ack wait: an unacknowledged delivery is redelivered with an incremented delivery count", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "1 second" })
      const [first] = yield* kit.fetch(s, c)
      assert.deepStrictEqual([first!.streamSequence, first!.consumerSequence, first!.deliveryCount], [1, 1, 1])
      yield* kit.advance("500 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [], "redelivered before the ack wait")
      yield* kit.advance("1 second")
      const [second] = yield* kit.fetch(s, c)
      assert.isDefined(second, "not redelivered after the ack wait")
      assert.deepStrictEqual([second!.streamSequence, second!.consumerSequence, second!.deliveryCount], [1, 2, 2])
      assert.strictEqual(second!.envelope.identity.messageId, first!.envelope.identity.messageId)
      const during = yield* lag(s, c)
      assert.strictEqual(during.redelivered, 1)
      assert.strictEqual(during.ackPending, 1)
      yield* kit.advance("1200 millis")
      const [third] = yield* kit.fetch(s, c)
      assert.strictEqual(third?.deliveryCount, 3)
      yield* third!.ack
      yield* kit.advance("1500 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [])
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 0,
        ackPending: 0,
        redelivered: 0,
        delivered: 1,
        ackFloor: 1
      })
    }))

  test("nak: a nak'd delivery is redelivered at once", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "5 seconds" })
      const [first] = yield* kit.fetch(s, c)
      yield* first!.nak()
      const [second] = yield* kit.fetch(s, c)
      assert.isDefined(second, "not redelivered after nak")
      assert.deepStrictEqual([second!.streamSequence, second!.deliveryCount], [1, 2])
      yield* second!.ack
      assert.deepStrictEqual(yield* kit.fetch(s, c), [])
    }))

  test("nak with a delay that is infinite, negative or not a duration: redelivered at once", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "30 seconds" })
      let [delivery] = yield* kit.fetch(s, c)
      for (const delay of ["Infinity", -1_000, "soon"] as const) {
        yield* delivery!.nak(delay as never)
        const [again] = yield* kit.fetch(s, c)
        assert.isDefined(again, `not redelivered at once after nak(${String(delay)})`)
        delivery = again
      }
      assert.deepStrictEqual([delivery!.streamSequence, delivery!.deliveryCount], [1, 4])
      yield* delivery!.ack
    }))

  test("nak with a delay: redelivered after the delay, not before", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "10 seconds" })
      const [first] = yield* kit.fetch(s, c)
      yield* first!.nak("1 second")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [], "redelivered before the nak delay")
      yield* kit.advance("1 second")
      const [second] = yield* kit.fetch(s, c)
      assert.isDefined(second, "not redelivered after the nak delay")
      assert.deepStrictEqual([second!.streamSequence, second!.deliveryCount], [1, 2])
      yield* second!.ack
    }), { feature: "nakDelay" })

  test("term: a termed delivery is never delivered again, and the consumer moves on", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "1 second" })
      const [first] = yield* kit.fetch(s, c)
      yield* first!.term("not wanted")
      yield* kit.advance("2500 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [])
      const after = yield* lag(s, c)
      assert.strictEqual(after.ackPending, 0)
      assert.strictEqual(after.pending, 0)
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(2))
      const next = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(next.map((d) => [nOf(d), d.deliveryCount]), [[2, 1]])
      yield* ackAll(next)
    }))

  test("inProgress resets the ack wait: no redelivery at the original deadline", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "2 seconds" })
      const [first] = yield* kit.fetch(s, c)
      yield* kit.advance("1200 millis")
      yield* first!.inProgress
      yield* kit.advance("1200 millis")
      // 2.4 s after delivery, 1.2 s after inProgress.
      assert.deepStrictEqual(yield* kit.fetch(s, c), [], "redelivered at the original deadline")
      yield* kit.advance("1500 millis")
      const [second] = yield* kit.fetch(s, c)
      assert.isDefined(second, "not redelivered after the extended deadline")
      assert.strictEqual(second!.deliveryCount, 2)
      yield* second!.ack
    }))

  test("maxDeliver: a message is delivered at most maxDeliver times, later messages still flow", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, { ackWait: "1 second", maxDeliver: 2 })
      const counts: Array<number> = []
      const [first] = yield* kit.fetch(s, c)
      counts.push(first!.deliveryCount)
      yield* kit.advance("1300 millis")
      const [second] = yield* kit.fetch(s, c)
      counts.push(second?.deliveryCount ?? 0)
      yield* kit.advance("1300 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [], "delivered more than maxDeliver times")
      yield* kit.advance("1300 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [], "delivered more than maxDeliver times")
      assert.deepStrictEqual(counts, [1, 2])
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(2))
      const next = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(next.map((d) => [nOf(d), d.deliveryCount]), [[2, 1]])
      yield* ackAll(next)
    }))

  test("maxAckPending: a pull gets at most maxAckPending unacknowledged deliveries", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 5)
      const c = yield* consumer(kit, s, { ackWait: "30 seconds", maxAckPending: 2 })
      const first = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(first.map(nOf), [1, 2])
      assert.deepStrictEqual(yield* kit.fetch(s, c, { batch: 10 }), [])
      yield* first[0]!.ack
      const second = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(second.map(nOf), [3])
      yield* first[1]!.ack
      yield* second[0]!.ack
      const third = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(third.map(nOf), [4, 5])
      yield* ackAll(third)
      assert.strictEqual((yield* lag(s, c)).ackFloor, 5)
    }), { feature: "maxAckPending" })

  test("backoff: redelivery delays after ack timeouts follow the consumer's backoff", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 1)
      const c = yield* consumer(kit, s, {
        ackWait: "1 second",
        backoff: ["1 second", "3 seconds"],
        maxDeliver: 5
      })
      const [first] = yield* kit.fetch(s, c)
      assert.strictEqual(first!.deliveryCount, 1)
      yield* kit.advance("1300 millis")
      const [second] = yield* kit.fetch(s, c)
      assert.strictEqual(second?.deliveryCount, 2, "not redelivered after the first backoff step")
      yield* kit.advance("1500 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c), [], "redelivered before the second backoff step")
      yield* kit.advance("1700 millis")
      const [third] = yield* kit.fetch(s, c)
      assert.strictEqual(third?.deliveryCount, 3, "not redelivered after the second backoff step")
      yield* third!.ack
    }), { feature: "backoff" })

  test("pull dead-letters and terms a stored message that is not a valid envelope, and returns the rest", (kit) =>
    Effect.gen(function*() {
      const dlq = kit.deadLetters()
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }, dlq.stream])
      const c = yield* consumer(kit, s, { ackWait: "1 second", deadLetterSubject: dlq.subject })
      const log = yield* EventLog.EventLog
      const encoded = Wire.encode(kit.envelope(1))
      if (Result.isFailure(encoded)) return yield* Effect.die(encoded.failure)
      const headers = { ...encoded.success.headers }
      delete headers[Wire.HeaderNames.messageId]
      yield* log.appendRaw(kit.subject("orders", "x"), { headers, body: encoded.success.body })
      yield* log.append(kit.subject("orders", "x"), kit.envelope(2))
      const got = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(got.map((d) => [d.streamSequence, nOf(d)]), [[2, 2]])
      yield* ackAll(got)
      const stored = yield* kit.eventually(info(dlq.stream.name), (i) => i.messages >= 1, { what: "dead letter stored" })
      assert.strictEqual(stored.messages, 1)
      // The dead letter keeps the original headers: it is not an envelope either.
      const reason = yield* failsWith(readAll(dlq.stream.name), "DecodeError")
      assert.strictEqual(reason.header, Wire.HeaderNames.messageId)
      yield* kit.advance("2500 millis")
      assert.deepStrictEqual(yield* kit.fetch(s, c, { batch: 10 }), [])
      assert.strictEqual((yield* info(dlq.stream.name)).messages, 1)
      assert.strictEqual((yield* lag(s, c)).ackPending, 0)
    }))

  test("lag tracks pending, ackPending, delivered, ackFloor and redelivered", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 4)
      const c = yield* consumer(kit, s, { ackWait: "1 second" })
      const start = yield* lag(s, c)
      assert.strictEqual(start.stream, s)
      assert.strictEqual(start.consumer, c)
      assert.deepStrictEqual(lagCounts(start), { pending: 4, ackPending: 0, redelivered: 0, delivered: 0, ackFloor: 0 })
      const first = yield* kit.fetch(s, c, { batch: 2 })
      assert.deepStrictEqual(first.map(nOf), [1, 2])
      assert.deepStrictEqual(first.map((d) => d.pending), [3, 2])
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 2,
        ackPending: 2,
        redelivered: 0,
        delivered: 2,
        ackFloor: 0
      })
      yield* first[0]!.ack
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 2,
        ackPending: 1,
        redelivered: 0,
        delivered: 2,
        ackFloor: 1
      })
      yield* kit.advance("1500 millis")
      // Message 2 timed out: redelivered first, then 3 and 4.
      const second = yield* kit.fetch(s, c, { batch: 3 })
      assert.deepStrictEqual(second.map((d) => [nOf(d), d.deliveryCount]), [[2, 2], [3, 1], [4, 1]])
      assert.deepStrictEqual(second.map((d) => d.pending), [2, 1, 0])
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 0,
        ackPending: 3,
        redelivered: 1,
        delivered: 4,
        ackFloor: 1
      })
      yield* ackAll(second)
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 0,
        ackPending: 0,
        redelivered: 0,
        delivered: 4,
        ackFloor: 4
      })
    }))

  test("workqueue retention removes a message once it is acknowledged", (kit) =>
    Effect.gen(function*() {
      const s = yield* ordersWith(kit, 3, { retention: "workqueue" })
      const c = yield* consumer(kit, s, { ackWait: "5 seconds" })
      const got = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(got.map(nOf), [1, 2, 3])
      yield* got[0]!.ack
      yield* got[2]!.ack
      const after = yield* kit.eventually(info(s), (i) => i.messages <= 1, { what: "acked messages removed" })
      assert.strictEqual(after.messages, 1)
      assert.deepStrictEqual((yield* readAll(s)).map(nOf), [2])
      yield* got[1]!.ack
      yield* kit.eventually(info(s), (i) => i.messages === 0, { what: "all acked messages removed" })
    }), { feature: "workqueueRetention" })

  test("interest retention removes a message once every consumer acknowledged it", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], retention: "interest" }])
      const log = yield* EventLog.EventLog
      // Without any consumer there is no interest: the sequence is used, nothing is kept.
      assert.strictEqual((yield* log.append(kit.subject("orders", "x"), kit.envelope(0))).sequence, 1)
      const idle = yield* info(s)
      assert.strictEqual(idle.messages, 0)
      assert.strictEqual(idle.lastSequence, 1)
      const one = yield* consumer(kit, s, { ackWait: "5 seconds" })
      const two = kit.name("two")
      yield* ensure([], [{ stream: s, name: two, ackWait: "5 seconds" }])
      yield* log.append(kit.subject("orders", "x"), kit.envelope(1))
      yield* log.append(kit.subject("orders", "x"), kit.envelope(2))
      yield* ackAll(yield* kit.fetch(s, one, { batch: 10 }))
      yield* kit.advance("200 millis")
      assert.strictEqual((yield* info(s)).messages, 2, "removed before every consumer acknowledged")
      const fromTwo = yield* kit.fetch(s, two, { batch: 10 })
      yield* fromTwo[0]!.ack
      const after = yield* kit.eventually(info(s), (i) => i.messages <= 1, { what: "message 1 removed" })
      assert.strictEqual(after.messages, 1)
      assert.deepStrictEqual((yield* readAll(s)).map(nOf), [2])
    }), { feature: "interestRetention" })
}
