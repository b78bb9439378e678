/**
 * Conformance tests of `EventLog.consume`: settlement of handler outcomes,
 * dead letters, poison messages, order, shutdown.
 *
 * @internal
 */
import { ConsumerPolicy, DeadLetter, EventLog, Message, Topology, TransportError, Wire } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { SuiteContext } from "./context.ts"
import { ensure, info, lag, lagCounts, readAll } from "./helpers.ts"
import { failsWith, type Kit, nOf } from "./kit.ts"

const Ping = Message.event("herald.conformance.Ping", Schema.Struct({ n: Schema.Number }))

/** Orders stream, a test-local dead-letter stream, and a consumer dead-lettering into it. */
const setup = (kit: Kit, consumer?: Partial<Topology.ConsumerConfig>) =>
  Effect.gen(function*() {
    const dlq = kit.deadLetters()
    const s = kit.name("orders")
    const c = kit.name("c")
    yield* ensure(
      [{ name: s, subjects: [kit.subject("orders", ">")] }, dlq.stream],
      [{ stream: s, name: c, ackWait: "1 second", deadLetterSubject: dlq.subject, ...consumer }]
    )
    const log = yield* EventLog.EventLog
    const append = (n: number, options?: Parameters<Kit["envelope"]>[1]) =>
      log.append(kit.subject("orders", "x"), kit.envelope(n, options))
    return { s, c, dlq, log, append }
  })

const deadLetters = (stream: string) =>
  Effect.map(readAll(stream), (messages) =>
    messages.map((m) => {
      const parsed = DeadLetter.parse(m.raw)
      if (parsed === undefined) {
        return assert.fail(`dead letter ${m.sequence} has no readable Herald-Dlq-* headers: ${JSON.stringify(m.raw.headers)}`)
      }
      return { message: m, info: parsed }
    }))

const statCounts = (stats: EventLog.ConsumerStats) => ({
  acked: stats.acked,
  naked: stats.naked,
  termed: stats.termed,
  deadLettered: stats.deadLettered,
  inFlight: stats.inFlight
})

const nakFast = { nakDelay: () => "300 millis" as const }

/** @internal */
export const register = ({ test }: SuiteContext): void => {
  test("success acks: every message is handled once and nothing stays pending", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const handled: Array<EventLog.Delivery> = []
      const handle = yield* log.consume(s, c, (d) => Effect.sync(() => void handled.push(d)))
      for (let n = 1; n <= 3; n++) yield* append(n)
      yield* kit.eventually(Effect.sync(() => handled.length), (k) => k >= 3, { what: "3 messages handled" })
      yield* kit.eventually(handle.stats, (st) => st.acked === 3 && st.inFlight === 0, { what: "3 acks" })
      yield* kit.advance("1500 millis")
      assert.deepStrictEqual(handled.map(nOf), [1, 2, 3])
      assert.deepStrictEqual(handled.map((d) => [d.stream, d.consumer, d.subject]), [
        [s, c, kit.subject("orders", "x")],
        [s, c, kit.subject("orders", "x")],
        [s, c, kit.subject("orders", "x")]
      ])
      assert.deepStrictEqual(handled.map((d) => d.streamSequence), [1, 2, 3])
      assert.deepStrictEqual(handled.map((d) => d.deliveryCount), [1, 1, 1])
      assert.strictEqual(handled[0]!.envelope.identity.messageId, kit.envelope(1).identity.messageId)
      assert.deepStrictEqual(statCounts(yield* handle.stats), { acked: 3, naked: 0, termed: 0, deadLettered: 0, inFlight: 0 })
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 0,
        ackPending: 0,
        redelivered: 0,
        delivered: 3,
        ackFloor: 3
      })
    }))

  test("a retryable failure naks: the message is redelivered and then succeeds", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit)
      const attempts: Array<number> = []
      const handle = yield* log.consume(s, c, (d) =>
        Effect.suspend(() => {
          attempts.push(d.deliveryCount)
          return d.deliveryCount === 1 ? Effect.fail(new Error("transient")) : Effect.void
        }), nakFast)
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => attempts.length), (k) => k >= 2, { what: "the redelivery" })
      yield* kit.eventually(handle.stats, (st) => st.acked === 1, { what: "the ack" })
      yield* kit.advance("2 seconds")
      assert.deepStrictEqual(attempts, [1, 2])
      assert.deepStrictEqual(statCounts(yield* handle.stats), { acked: 1, naked: 1, termed: 0, deadLettered: 0, inFlight: 0 })
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 0,
        ackPending: 0,
        redelivered: 0,
        delivered: 1,
        ackFloor: 1
      })
      assert.strictEqual((yield* info(dlq.stream.name)).messages, 0)
    }))

  test("a non-retryable failure (a body that does not match its Schema) dead-letters the message with its reason and terms it", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit)
      const handled: Array<number> = []
      const attempts: Array<string> = []
      const handle = yield* log.consume(s, c, (d) =>
        Effect.gen(function*() {
          attempts.push(d.envelope.identity.messageId)
          const payload = yield* Ping.decode(d.envelope)
          handled.push(payload.n)
        }), nakFast)
      yield* append(1, { body: { n: "not a number" } })
      yield* append(2)
      yield* kit.eventually(info(dlq.stream.name), (i) => i.messages >= 1, { what: "the dead letter" })
      yield* kit.eventually(Effect.sync(() => handled.length), (k) => k >= 1, { what: "message 2 handled" })
      yield* kit.advance("2500 millis")
      const bad = kit.envelope(1).identity.messageId
      assert.deepStrictEqual(attempts.filter((id) => id === bad).length, 1, "the failed message was tried again")
      assert.deepStrictEqual(handled, [2])
      const letters = yield* deadLetters(dlq.stream.name)
      assert.strictEqual(letters.length, 1)
      const [{ info: dl, message }] = letters as [typeof letters[number]]
      assert.strictEqual(dl.stream, s)
      assert.strictEqual(dl.consumer, c)
      assert.strictEqual(dl.sequence, 1)
      assert.strictEqual(dl.subject, kit.subject("orders", "x"))
      assert.strictEqual(dl.deliveryCount, 1)
      assert.match(dl.reason, /non-retryable/)
      assert.match(dl.reason, /decode/i)
      assert.strictEqual(message.subject, dlq.subject)
      // The original message: headers (identity included) and body unchanged.
      assert.strictEqual(Wire.header(message.raw, Wire.HeaderNames.messageId), bad)
      assert.strictEqual(message.envelope.identity.messageId, bad)
      assert.strictEqual(message.envelope.type, "herald.conformance.Ping")
      assert.strictEqual(Wire.header(message.raw, "x-conformance"), kit.prefix)
      assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(message.raw.body)), { n: "not a number" })
      const stats = yield* handle.stats
      assert.strictEqual(stats.deadLettered, 1)
      assert.strictEqual(stats.acked, 1)
      const after = yield* lag(s, c)
      assert.strictEqual(after.ackPending, 0)
      assert.strictEqual(after.pending, 0)
    }))

  test("a handler failing with a non-retryable TransportError (DecodeError) is dead-lettered at once", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit)
      let calls = 0
      yield* log.consume(s, c, () =>
        Effect.suspend(() => {
          calls++
          return Effect.fail(TransportError.make(new TransportError.DecodeError({ detail: "payload is upside down" })))
        }), nakFast)
      yield* append(1)
      yield* kit.eventually(info(dlq.stream.name), (i) => i.messages >= 1, { what: "the dead letter" })
      yield* kit.advance("2500 millis")
      assert.strictEqual(calls, 1)
      const [letter] = yield* deadLetters(dlq.stream.name)
      assert.strictEqual((yield* info(dlq.stream.name)).messages, 1)
      assert.match(letter!.info.reason, /upside down/)
      assert.strictEqual(letter!.info.deliveryCount, 1)
      assert.strictEqual(letter!.message.envelope.identity.messageId, kit.envelope(1).identity.messageId)
      assert.strictEqual((yield* lag(s, c)).ackPending, 0)
    }))

  test("a poison message reaches the DLQ after maxDeliver while later messages keep flowing", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit, { ackWait: "5 seconds", maxDeliver: 3 })
      const poison = new Set([2, 4])
      const calls = new Map<number, Array<number>>()
      const succeeded: Array<number> = []
      const handle = yield* log.consume(s, c, (d) =>
        Effect.suspend(() => {
          const n = nOf(d)
          calls.set(n, [...(calls.get(n) ?? []), d.deliveryCount])
          if (poison.has(n)) return Effect.fail(new Error(`poison ${n}`))
          succeeded.push(n)
          return Effect.void
        }), { nakDelay: () => "200 millis" })
      for (let n = 1; n <= 5; n++) yield* append(n)
      yield* kit.eventually(
        Effect.zip(info(dlq.stream.name), Effect.sync(() => succeeded.length)),
        ([i, k]) => i.messages >= 2 && k >= 3,
        { what: "2 dead letters and 3 successes", within: "10 seconds" }
      )
      yield* kit.advance("2 seconds")
      assert.deepStrictEqual([...succeeded].sort(), [1, 3, 5])
      assert.deepStrictEqual(calls.get(2), [1, 2, 3])
      assert.deepStrictEqual(calls.get(4), [1, 2, 3])
      for (const n of [1, 3, 5]) assert.deepStrictEqual(calls.get(n), [1])
      const letters = yield* deadLetters(dlq.stream.name)
      assert.strictEqual(letters.length, 2)
      assert.deepStrictEqual(
        letters.map((l) => l.message.envelope.identity.messageId).sort(),
        [kit.envelope(2).identity.messageId, kit.envelope(4).identity.messageId].sort()
      )
      for (const l of letters) {
        assert.strictEqual(l.info.deliveryCount, 3)
        assert.match(l.info.reason, /delivery 3 of 3/)
        assert.match(l.info.reason, /poison/)
      }
      const stats = yield* handle.stats
      assert.strictEqual(stats.deadLettered, 2)
      assert.strictEqual(stats.acked, 3)
      assert.strictEqual(stats.naked, 4)
      assert.strictEqual((yield* lag(s, c)).ackPending, 0)
    }))

  test("a stored message with malformed headers is dead-lettered with a DecodeError reason and never handled", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit)
      const handled: Array<string> = []
      yield* log.consume(s, c, (d) => Effect.sync(() => void handled.push(d.envelope.identity.messageId)))
      const encoded = Wire.encode(kit.envelope(1))
      if (Result.isFailure(encoded)) return yield* Effect.die(encoded.failure)
      yield* log.appendRaw(kit.subject("orders", "x"), {
        headers: { ...encoded.success.headers, [Wire.HeaderNames.kind]: "gossip" },
        body: encoded.success.body
      })
      yield* append(2)
      yield* kit.eventually(info(dlq.stream.name), (i) => i.messages >= 1, { what: "the dead letter" })
      yield* kit.eventually(Effect.sync(() => handled.length), (k) => k >= 1, { what: "message 2 handled" })
      yield* kit.advance("2500 millis")
      assert.deepStrictEqual(handled, [kit.envelope(2).identity.messageId])
      assert.strictEqual((yield* info(dlq.stream.name)).messages, 1)
      // The dead letter carries the original headers, so it is no envelope either.
      const reason = yield* failsWith(readAll(dlq.stream.name), "DecodeError")
      assert.strictEqual(reason.header, Wire.HeaderNames.kind)
      // readRaw shows it as stored: the original headers and the reason.
      const letters = yield* Stream.runCollect(log.readRaw(dlq.stream.name))
      assert.strictEqual(letters.length, 1)
      const letter = DeadLetter.parse(letters[0]!.raw)
      assert.isDefined(letter)
      assert.include(letter!.reason, Wire.HeaderNames.kind)
      assert.strictEqual(letter!.stream, s)
      assert.strictEqual(letter!.consumer, c)
      assert.strictEqual(letter!.sequence, 1)
      assert.strictEqual(letters[0]!.raw.headers[Wire.HeaderNames.kind], "gossip")
      assert.strictEqual(letters[0]!.raw.headers[Wire.HeaderNames.messageId], kit.envelope(1).identity.messageId)
      assert.strictEqual((yield* lag(s, c)).ackPending, 0)
    }))

  test("concurrency 1 handles messages one at a time, in stream order", (kit) =>
    Effect.gen(function*() {
      const { s, c, log } = yield* setup(kit, { ackWait: "10 seconds" })
      const order: Array<number> = []
      let running = 0
      let maxRunning = 0
      yield* log.consume(s, c, (d) =>
        Effect.gen(function*() {
          running++
          maxRunning = Math.max(maxRunning, running)
          // Earlier messages take longer, so a parallel runner would reorder them.
          yield* Effect.sleep(`${(9 - nOf(d)) * 40} millis`)
          order.push(nOf(d))
          running--
        }), { concurrency: 1 })
      for (let n = 1; n <= 8; n++) {
        yield* log.append(kit.subject("orders", n % 2 === 0 ? "even" : "odd"), kit.envelope(n))
      }
      yield* kit.eventually(Effect.sync(() => order.length), (k) => k >= 8, { what: "8 messages handled" })
      assert.deepStrictEqual(order, [1, 2, 3, 4, 5, 6, 7, 8])
      assert.strictEqual(maxRunning, 1)
    }))

  test("concurrency n runs up to n handlers at once", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit, { ackWait: "10 seconds" })
      let running = 0
      let maxRunning = 0
      let done = 0
      yield* log.consume(s, c, () =>
        Effect.gen(function*() {
          running++
          maxRunning = Math.max(maxRunning, running)
          yield* Effect.sleep("500 millis")
          running--
          done++
        }), { concurrency: 3 })
      for (let n = 1; n <= 6; n++) yield* append(n)
      yield* kit.eventually(Effect.sync(() => done), (k) => k >= 6, { what: "6 messages handled" })
      assert.strictEqual(maxRunning, 3)
    }))

  test("closing the consume scope stops delivery; a new consume picks up where it stopped", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const handled: Array<number> = []
      const scope = yield* Scope.make()
      yield* Scope.provide(scope)(log.consume(s, c, (d) => Effect.sync(() => void handled.push(nOf(d)))))
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => handled.length), (k) => k >= 1, { what: "message 1 handled" })
      yield* kit.eventually(lag(s, c), (l) => l.ackFloor === 1, { what: "message 1 acked" })
      yield* Scope.close(scope, Exit.void)
      yield* append(2)
      yield* append(3)
      yield* kit.advance("2500 millis")
      assert.deepStrictEqual(handled, [1])
      assert.strictEqual((yield* lag(s, c)).ackFloor, 1)
      const again: Array<number> = []
      yield* log.consume(s, c, (d) => Effect.sync(() => void again.push(nOf(d))))
      yield* kit.eventually(Effect.sync(() => again.length), (k) => k >= 2, { what: "messages 2 and 3 handled" })
      assert.deepStrictEqual(again, [2, 3])
      assert.deepStrictEqual(handled, [1])
    }))

  test("a dead letter that cannot be stored is not lost: the message is redelivered until it can be", (kit) =>
    Effect.gen(function*() {
      const nowhere = kit.subject("nowhere")
      const { s, c, log, append } = yield* setup(kit, { deadLetterSubject: nowhere, ackWait: "5 seconds" })
      const attempts: Array<number> = []
      const handle = yield* log.consume(s, c, (d) =>
        Effect.suspend(() => {
          attempts.push(d.deliveryCount)
          return Effect.fail(TransportError.make(new TransportError.DecodeError({ detail: "unreadable" })))
        }), nakFast)
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => attempts.length), (k) => k >= 3, {
        what: "redeliveries while the dead letter cannot be stored"
      })
      assert.deepStrictEqual(attempts.slice(0, 3), [1, 2, 3])
      assert.strictEqual((yield* handle.stats).deadLettered, 0)
      const pending = yield* lag(s, c)
      assert.strictEqual(pending.ackFloor, 0, "the message was acknowledged although its dead letter was lost")
      // Once a stream captures the dead-letter subject, the message gets there.
      const late = kit.name("late_dlq")
      yield* ensure([{ name: late, subjects: [nowhere] }])
      yield* kit.eventually(info(late), (i) => i.messages >= 1, { what: "the dead letter stored" })
      yield* kit.eventually(handle.stats, (st) => st.deadLettered === 1, { what: "the dead letter counted" })
      const settled = attempts.length
      yield* kit.advance("2 seconds")
      assert.strictEqual(attempts.length, settled, "tried again after it was dead-lettered")
      assert.strictEqual((yield* info(late)).messages, 1)
      const [letter] = yield* deadLetters(late)
      assert.strictEqual(letter!.message.envelope.identity.messageId, kit.envelope(1).identity.messageId)
      assert.strictEqual(letter!.info.deliveryCount, settled)
      const after = yield* lag(s, c)
      assert.strictEqual(after.ackPending, 0)
      assert.strictEqual(after.pending, 0)
    }))

  test("a message whose ack wait runs out maxDeliver times is dead-lettered once, with the ack-wait-exhausted reason", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit, { ackWait: "1 second", maxDeliver: 2 })
      const stuck: Array<number> = []
      const handled: Array<number> = []
      const scope = yield* Scope.make()
      yield* Scope.provide(scope)(log.consume(s, c, (d) =>
        Effect.suspend(() => {
          if (nOf(d) === 1) {
            stuck.push(d.deliveryCount)
            return Effect.never
          }
          handled.push(nOf(d))
          return Effect.void
          // (No handler deadline: the ack wait runs out instead.)
        }), { concurrency: 4, shutdownTimeout: "100 millis", handlerDeadline: "none" }))
      yield* append(1)
      yield* append(2)
      yield* kit.eventually(info(dlq.stream.name), (i) => i.messages >= 1, { what: "the dead letter", within: "8 seconds" })
      yield* kit.advance("3 seconds")
      assert.deepStrictEqual(stuck, [1, 2])
      assert.deepStrictEqual(handled, [2])
      const letters = yield* deadLetters(dlq.stream.name)
      assert.strictEqual(letters.length, 1)
      assert.strictEqual(letters[0]!.info.reason, ConsumerPolicy.maxDeliveriesReason(2))
      assert.strictEqual(letters[0]!.info.deliveryCount, 2)
      assert.strictEqual(letters[0]!.info.sequence, 1)
      assert.strictEqual(letters[0]!.message.envelope.identity.messageId, kit.envelope(1).identity.messageId)
      // The stuck handlers are interrupted after the shutdown timeout.
      yield* kit.drive(Scope.close(scope, Exit.void), { what: "closing the consumer" })
      assert.strictEqual((yield* info(dlq.stream.name)).messages, 1)
    }))

  test("a retryable failure is retried after the default nak delay (1 s), not at once", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit, { ackWait: "10 seconds" })
      const attempts: Array<number> = []
      yield* log.consume(s, c, (d) =>
        Effect.suspend(() => {
          attempts.push(d.deliveryCount)
          return d.deliveryCount === 1 ? Effect.fail(new Error("transient")) : Effect.void
        }))
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => attempts.length), (k) => k >= 1, { what: "the first attempt" })
      yield* kit.advance("500 millis")
      assert.deepStrictEqual(attempts, [1], "retried before the default nak delay")
      yield* kit.eventually(Effect.sync(() => attempts.length), (k) => k >= 2, { what: "the retry", within: "2 seconds" })
      yield* kit.eventually(lag(s, c), (l) => l.ackFloor === 1, { what: "the ack" })
      assert.deepStrictEqual(attempts, [1, 2])
    }))

  test("without a nakDelay option, retries follow the consumer's backoff", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit, {
        ackWait: "10 seconds",
        backoff: ["2 seconds", "2 seconds"],
        maxDeliver: 5
      })
      const attempts: Array<number> = []
      yield* log.consume(s, c, (d) =>
        Effect.suspend(() => {
          attempts.push(d.deliveryCount)
          return d.deliveryCount === 1 ? Effect.fail(new Error("transient")) : Effect.void
        }))
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => attempts.length), (k) => k >= 1, { what: "the first attempt" })
      yield* kit.advance("1500 millis")
      assert.deepStrictEqual(attempts, [1], "retried before the backoff step")
      yield* kit.eventually(Effect.sync(() => attempts.length), (k) => k >= 2, { what: "the retry", within: "2 seconds" })
      assert.deepStrictEqual(attempts, [1, 2])
    }), { feature: "backoff" })

  test("a handler still running at the handler deadline is interrupted, counted, and its delivery nak'd; the next delivery is handled", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit, { ackWait: "30 seconds" })
      const attempts: Array<number> = []
      let interrupted = 0
      const handle = yield* log.consume(s, c, (d) =>
        Effect.suspend(() => {
          attempts.push(d.deliveryCount)
          if (nOf(d) !== 1 || d.deliveryCount > 1) return Effect.void
          return Effect.onInterrupt(Effect.never, () => Effect.sync(() => void interrupted++))
        }), { ...nakFast, handlerDeadline: "1 second" })
      yield* append(1)
      yield* append(2)
      yield* kit.eventually(handle.stats, (st) => st.acked === 2, { what: "both messages acked", within: "10 seconds" })
      const stats = yield* handle.stats
      assert.deepStrictEqual({ ...statCounts(stats), timedOut: stats.timedOut }, {
        acked: 2,
        naked: 1,
        termed: 0,
        deadLettered: 0,
        inFlight: 0,
        timedOut: 1
      })
      // Concurrency 1: message 2 waited for message 1's deadline; message 1 came back after the nak delay.
      assert.deepStrictEqual(attempts, [1, 1, 2])
      assert.strictEqual(interrupted, 1)
      assert.strictEqual((yield* info(dlq.stream.name)).messages, 0)
    }))

  test("with handlerDeadline none a handler may run past the ack wait; a deadline that is not a positive duration is InvalidConfig", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit, { ackWait: "1 second" })
      const calls: Array<number> = []
      const slow = (d: EventLog.Delivery) =>
        Effect.suspend(() => {
          calls.push(d.deliveryCount)
          return d.deliveryCount === 1 ? kit.advance("1500 millis") : Effect.void
        })
      const scope = yield* Scope.make()
      const none = yield* Scope.provide(scope)(log.consume(s, c, slow, { ...nakFast, handlerDeadline: "none" }))
      yield* append(1)
      yield* kit.eventually(none.stats, (st) => st.acked + st.naked >= 1, { what: "the slow handler done", within: "10 seconds" })
      assert.strictEqual((yield* none.stats).timedOut, 0)
      assert.deepStrictEqual(calls.slice(0, 1), [1])
      yield* kit.drive(Scope.close(scope, Exit.void), { what: "closing the consumer" })
      for (const handlerDeadline of ["-1 seconds", "0 millis", "soon"] as const) {
        yield* failsWith(Effect.scoped(log.consume(s, c, slow, { handlerDeadline: handlerDeadline as "0 millis" })), "InvalidConfig")
      }
    }))

  test("the deadLetterSubject option overrides the consumer's dead-letter subject", (kit) =>
    Effect.gen(function*() {
      const { s, c, dlq, log, append } = yield* setup(kit)
      const other = kit.deadLetters("other_dlq")
      yield* ensure([other.stream])
      yield* log.consume(
        s,
        c,
        () => Effect.fail(TransportError.make(new TransportError.DecodeError({ detail: "unreadable" }))),
        { deadLetterSubject: other.subject }
      )
      yield* append(1)
      yield* kit.eventually(info(other.stream.name), (i) => i.messages >= 1, { what: "the dead letter" })
      yield* kit.advance("500 millis")
      assert.strictEqual((yield* info(other.stream.name)).messages, 1)
      assert.strictEqual((yield* info(dlq.stream.name)).messages, 0)
      const [letter] = yield* deadLetters(other.stream.name)
      assert.strictEqual(letter!.message.subject, other.subject)
      assert.strictEqual(letter!.info.consumer, c)
    }))

  test("closing the consume scope lets a handler in flight finish and settle", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit, { ackWait: "10 seconds" })
      let started = 0
      let finished = 0
      const scope = yield* Scope.make()
      yield* Scope.provide(scope)(log.consume(s, c, () =>
        Effect.gen(function*() {
          started++
          yield* Effect.sleep("1 second")
          finished++
        }), { shutdownTimeout: "5 seconds" }))
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => started), (k) => k >= 1, { what: "the handler started" })
      assert.strictEqual(finished, 0)
      yield* kit.drive(Scope.close(scope, Exit.void), { what: "closing the consumer" })
      assert.strictEqual(finished, 1)
      const after = yield* lag(s, c)
      assert.strictEqual(after.ackFloor, 1, "the finished handler's message was not acknowledged")
      assert.strictEqual(after.ackPending, 0)
    }))

  test("the handle's await fails when the stream is deleted under the consumer", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const handled: Array<number> = []
      const handle = yield* log.consume(s, c, (d) => Effect.sync(() => void handled.push(nOf(d))))
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => handled.length), (k) => k >= 1, { what: "message 1 handled" })
      const topology = yield* Topology.Topology
      yield* topology.deleteStream(s)
      const error = yield* kit.drive(Effect.flip(handle.await), { what: "the runner stopping", limit: "30 seconds" })
      assert.isTrue(TransportError.isTransportError(error), `expected a TransportError, got ${String(error)}`)
    }))

  test("consume of an unknown consumer fails with ConsumerNotFound", (kit) =>
    Effect.gen(function*() {
      const { s, log } = yield* setup(kit)
      const missing = kit.name("missing")
      const reason = yield* failsWith(
        kit.drive(Effect.flatMap(log.consume(s, missing, () => Effect.void), (handle) => handle.await), {
          what: "consume of a missing consumer"
        }),
        "ConsumerNotFound"
      )
      assert.strictEqual(reason.consumer, missing)
    }))
}
