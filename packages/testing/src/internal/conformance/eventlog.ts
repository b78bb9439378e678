/**
 * Conformance tests of `EventLog` streams: append, sequences, limits,
 * duplicates, optimistic concurrency, `read`, `info`.
 *
 * @internal
 */
import { EventLog, Wire } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Capture from "../../Capture.ts"
import type { SuiteContext } from "./context.ts"
import { appended, ensure, info, readAll } from "./helpers.ts"
import { failsWith, type Kit, nOf, reasonOf } from "./kit.ts"

const raw = (kit: Kit, n: number) => {
  const encoded = Wire.encode(kit.envelope(n))
  if (Result.isFailure(encoded)) throw encoded.failure
  return encoded.success
}

const infoCounts = (i: EventLog.StreamInfo) => ({
  messages: i.messages,
  firstSequence: i.firstSequence,
  lastSequence: i.lastSequence
})

/** @internal */
export const register = ({ test }: SuiteContext): void => {
  test("append stores each message in the stream capturing its subject, with sequences 1..n", (kit) =>
    Effect.gen(function*() {
      const orders = kit.name("orders")
      const other = kit.name("other")
      yield* ensure([
        { name: orders, subjects: [kit.subject("orders", ">")] },
        { name: other, subjects: [kit.subject("other", ">")] }
      ])
      const log = yield* EventLog.EventLog
      const results = [
        yield* log.append(kit.subject("orders", "created"), kit.envelope(1)),
        yield* log.append(kit.subject("orders", "shipped"), kit.envelope(2)),
        yield* log.append(kit.subject("orders", "eu", "created"), kit.envelope(3))
      ]
      assert.deepStrictEqual(results.map(appended), [
        { stream: orders, sequence: 1, duplicate: false },
        { stream: orders, sequence: 2, duplicate: false },
        { stream: orders, sequence: 3, duplicate: false }
      ])
      const elsewhere = yield* log.append(kit.subject("other", "x"), kit.envelope(4))
      assert.deepStrictEqual(appended(elsewhere), { stream: other, sequence: 1, duplicate: false })

      const ordersInfo = yield* info(orders)
      assert.strictEqual(ordersInfo.name, orders)
      assert.deepStrictEqual([...ordersInfo.subjects], [kit.subject("orders", ">")])
      assert.deepStrictEqual(infoCounts(ordersInfo), { messages: 3, firstSequence: 1, lastSequence: 3 })
      assert.deepStrictEqual(infoCounts(yield* info(other)), { messages: 1, firstSequence: 1, lastSequence: 1 })

      const stored = yield* readAll(orders)
      assert.deepStrictEqual(stored.map((m) => m.sequence), [1, 2, 3])
      assert.deepStrictEqual(stored.map((m) => m.stream), [orders, orders, orders])
      assert.deepStrictEqual(stored.map((m) => m.subject), [
        kit.subject("orders", "created"),
        kit.subject("orders", "shipped"),
        kit.subject("orders", "eu", "created")
      ])
      assert.deepStrictEqual(stored.map(nOf), [1, 2, 3])
      const first = stored[0]!
      const sent = kit.envelope(1)
      assert.strictEqual(first.envelope.identity.messageId, sent.identity.messageId)
      assert.strictEqual(first.envelope.identity.correlationId, sent.identity.correlationId)
      assert.strictEqual(first.envelope.identity.causationId, sent.identity.causationId)
      assert.strictEqual(first.envelope.type, sent.type)
      assert.strictEqual(first.envelope.kind, sent.kind)
      assert.strictEqual(first.envelope.occurredAt, sent.occurredAt)
      assert.strictEqual(first.envelope.contentType, sent.contentType)
      assert.deepStrictEqual(first.envelope.headers, sent.headers)
      assert.strictEqual(Wire.header(first.raw, Wire.HeaderNames.natsMsgId), sent.identity.messageId)
      assert.strictEqual(Wire.header(first.raw, Wire.HeaderNames.messageId), sent.identity.messageId)
      assert.deepStrictEqual([...first.raw.body], [...sent.body])
    }))

  test("append to a subject that no stream captures fails with NoStreamForSubject", (kit) =>
    Effect.gen(function*() {
      const orders = kit.name("orders")
      yield* ensure([{ name: orders, subjects: [kit.subject("orders", ">")] }])
      const log = yield* EventLog.EventLog
      const nowhere = kit.subject("nowhere", "created")
      const reason = yield* failsWith(log.append(nowhere, kit.envelope(1)), "NoStreamForSubject")
      assert.strictEqual(reason.subject, nowhere)
      const rawReason = yield* failsWith(log.appendRaw(nowhere, raw(kit, 2)), "NoStreamForSubject")
      assert.strictEqual(rawReason.subject, nowhere)
      assert.strictEqual((yield* info(orders)).messages, 0)
    }))

  test("info, read and lag of an unknown stream fail with StreamNotFound", (kit) =>
    Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const missing = kit.name("missing")
      assert.strictEqual((yield* failsWith(log.info(missing), "StreamNotFound")).stream, missing)
      assert.strictEqual((yield* failsWith(readAll(missing), "StreamNotFound")).stream, missing)
      assert.strictEqual((yield* failsWith(log.lag(missing, kit.name("c")), "StreamNotFound")).stream, missing)
    }))

  test("append with an invalid subject fails with InvalidSubject", (kit) =>
    Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensure([{ name: kit.name("orders"), subjects: [kit.subject("orders", ">")] }])
      for (const subject of [`${kit.prefix}..orders`, kit.subject("orders", "*"), kit.subject("orders", ">"), `${kit.prefix} orders`]) {
        const reason = yield* failsWith(log.append(subject, kit.envelope(1)), "InvalidSubject")
        assert.strictEqual(reason.subject, subject)
      }
      assert.strictEqual((yield* info(kit.name("orders"))).messages, 0)
    }))

  test("maxMessages with discard old removes the oldest messages", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], maxMessages: 3, discard: "old" }])
      const log = yield* EventLog.EventLog
      const sequences: Array<number> = []
      for (let n = 1; n <= 5; n++) sequences.push((yield* log.append(kit.subject("orders", "x"), kit.envelope(n))).sequence)
      assert.deepStrictEqual(sequences, [1, 2, 3, 4, 5])
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 3, firstSequence: 3, lastSequence: 5 })
      const stored = yield* readAll(s)
      assert.deepStrictEqual(stored.map((m) => m.sequence), [3, 4, 5])
      assert.deepStrictEqual(stored.map(nOf), [3, 4, 5])
    }))

  test("maxMessages with discard new refuses appends to a full stream with LimitExceeded", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], maxMessages: 2, discard: "new" }])
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(1))
      yield* log.append(kit.subject("orders", "x"), kit.envelope(2))
      const reason = yield* failsWith(log.append(kit.subject("orders", "x"), kit.envelope(3)), "LimitExceeded")
      assert.strictEqual(reason.stream, s)
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 2, firstSequence: 1, lastSequence: 2 })
      assert.deepStrictEqual((yield* readAll(s)).map(nOf), [1, 2])
    }), { feature: "discardNew" })

  test("maxMessagesPerSubject keeps only the newest messages of each subject", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], maxMessagesPerSubject: 1 }])
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "a"), kit.envelope(1))
      yield* log.append(kit.subject("orders", "b"), kit.envelope(2))
      yield* log.append(kit.subject("orders", "a"), kit.envelope(3))
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 2, firstSequence: 2, lastSequence: 3 })
      const stored = yield* readAll(s)
      assert.deepStrictEqual(stored.map((m) => [m.sequence, m.subject]), [
        [2, kit.subject("orders", "b")],
        [3, kit.subject("orders", "a")]
      ])
    }), { feature: "maxMessagesPerSubject" })

  test("maxAge removes messages once they are older than the limit", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], maxAge: "2 seconds" }])
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(1))
      yield* log.append(kit.subject("orders", "x"), kit.envelope(2))
      assert.strictEqual((yield* info(s)).messages, 2)
      yield* kit.advance("1 second")
      yield* log.append(kit.subject("orders", "x"), kit.envelope(3))
      yield* kit.advance("1200 millis")
      // 1 and 2 are 2.2 s old, 3 is 1.2 s old.
      const partly = yield* kit.eventually(info(s), (i) => i.messages <= 1, { what: "messages 1 and 2 expired" })
      assert.deepStrictEqual(infoCounts(partly), { messages: 1, firstSequence: 3, lastSequence: 3 })
      assert.deepStrictEqual((yield* readAll(s)).map((m) => m.sequence), [3])
      yield* kit.advance("1 second")
      const empty = yield* kit.eventually(info(s), (i) => i.messages === 0, { what: "message 3 expired" })
      assert.strictEqual(empty.lastSequence, 3)
      assert.deepStrictEqual(yield* readAll(s), [])
      const next = yield* log.append(kit.subject("orders", "x"), kit.envelope(4))
      assert.strictEqual(next.sequence, 4)
    }), { feature: "maxAge" })

  test("maxMessageSize refuses a larger message with MessageTooLarge", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], maxMessageSize: 512 }])
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(1))
      const reason = yield* failsWith(
        log.append(kit.subject("orders", "x"), kit.envelope(2, { body: { n: 2, pad: "x".repeat(1024) } })),
        "MessageTooLarge"
      )
      assert.strictEqual(reason.max, 512)
      assert.isAbove(reason.size, 512)
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 1, lastSequence: 1 })
    }))

  test("a message id repeated inside the duplicate window is a duplicate: nothing is stored", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], duplicateWindow: "2 seconds" }])
      const log = yield* EventLog.EventLog
      const subject = kit.subject("orders", "x")
      assert.deepStrictEqual(appended(yield* log.append(subject, kit.envelope(1))), {
        stream: s,
        sequence: 1,
        duplicate: false
      })
      yield* log.append(subject, kit.envelope(2))
      assert.deepStrictEqual(appended(yield* log.append(subject, kit.envelope(1))), {
        stream: s,
        sequence: 1,
        duplicate: true
      })
      // The same id on another subject of the stream is still a duplicate.
      assert.deepStrictEqual(appended(yield* log.append(kit.subject("orders", "y"), kit.envelope(2))), {
        stream: s,
        sequence: 2,
        duplicate: true
      })
      // appendRaw dedupes by Nats-Msg-Id.
      assert.deepStrictEqual(appended(yield* log.appendRaw(subject, raw(kit, 1))), {
        stream: s,
        sequence: 1,
        duplicate: true
      })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 2, firstSequence: 1, lastSequence: 2 })
      assert.deepStrictEqual((yield* readAll(s)).map(nOf), [1, 2])
    }))

  test("after the duplicate window has passed the same message id is stored again", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")], duplicateWindow: "2 seconds" }])
      const log = yield* EventLog.EventLog
      const subject = kit.subject("orders", "x")
      yield* log.append(subject, kit.envelope(1))
      yield* kit.advance("1 second")
      assert.deepStrictEqual(appended(yield* log.append(subject, kit.envelope(1))), {
        stream: s,
        sequence: 1,
        duplicate: true
      })
      yield* kit.advance("2500 millis")
      assert.deepStrictEqual(appended(yield* log.append(subject, kit.envelope(1))), {
        stream: s,
        sequence: 2,
        duplicate: false
      })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 2, firstSequence: 1, lastSequence: 2 })
    }), { feature: "duplicateWindowExpiry" })

  test("expectedLastSequence: the append succeeds on the right sequence and fails with WrongLastSequence otherwise", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      const log = yield* EventLog.EventLog
      const subject = kit.subject("orders", "x")
      // Wrong on an empty stream.
      const early = yield* failsWith(log.append(subject, kit.envelope(9), { expectedLastSequence: 3 }), "WrongLastSequence")
      assert.strictEqual(early.stream, s)
      assert.strictEqual(early.scope, "stream")
      assert.strictEqual(early.expected, 3)
      assert.strictEqual((yield* log.append(subject, kit.envelope(1))).sequence, 1)
      assert.strictEqual((yield* log.append(subject, kit.envelope(2), { expectedLastSequence: 1 })).sequence, 2)
      const reason = yield* failsWith(log.append(subject, kit.envelope(3), { expectedLastSequence: 1 }), "WrongLastSequence")
      assert.strictEqual(reason.stream, s)
      assert.strictEqual(reason.scope, "stream")
      assert.strictEqual(reason.expected, 1)
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 2, firstSequence: 1, lastSequence: 2 })
      assert.deepStrictEqual((yield* readAll(s)).map(nOf), [1, 2])
      // The refused message id was not recorded: it can be appended afterwards.
      assert.deepStrictEqual(appended(yield* log.append(subject, kit.envelope(3), { expectedLastSequence: 2 })), {
        stream: s,
        sequence: 3,
        duplicate: false
      })
    }))

  test("expectedLastSequence 0: the append succeeds only on an empty stream", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      const log = yield* EventLog.EventLog
      const subject = kit.subject("orders", "x")
      assert.strictEqual((yield* log.append(subject, kit.envelope(1), { expectedLastSequence: 0 })).sequence, 1)
      const reason = yield* failsWith(log.append(subject, kit.envelope(2), { expectedLastSequence: 0 }), "WrongLastSequence")
      assert.strictEqual(reason.stream, s)
      assert.strictEqual(reason.scope, "stream")
      assert.strictEqual(reason.expected, 0)
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 1, lastSequence: 1 })
    }), { feature: "expectedLastSequenceZero" })

  test("expectedLastSubjectSequence: checked against the last message of the subject", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      const log = yield* EventLog.EventLog
      const a = kit.subject("orders", "a")
      const b = kit.subject("orders", "b")
      const c = kit.subject("orders", "c")
      yield* log.append(a, kit.envelope(1))
      yield* log.append(b, kit.envelope(2))
      // a's last message is 1, although the stream's last is 2.
      assert.strictEqual((yield* log.append(a, kit.envelope(3), { expectedLastSubjectSequence: 1 })).sequence, 3)
      const reason = yield* failsWith(
        log.append(a, kit.envelope(4), { expectedLastSubjectSequence: 1 }),
        "WrongLastSequence"
      )
      assert.strictEqual(reason.stream, s)
      assert.strictEqual(reason.scope, "subject")
      assert.strictEqual(reason.expected, 1)
      // 0: no message on the subject yet.
      assert.strictEqual((yield* log.append(c, kit.envelope(5), { expectedLastSubjectSequence: 0 })).sequence, 4)
      const taken = yield* failsWith(
        log.append(b, kit.envelope(6), { expectedLastSubjectSequence: 0 }),
        "WrongLastSequence"
      )
      assert.strictEqual(taken.scope, "subject")
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 4, firstSequence: 1, lastSequence: 4 })
      assert.deepStrictEqual((yield* readAll(s)).map(nOf), [1, 2, 3, 5])
    }))

  test("expectedStream: the append fails, storing nothing, unless the subject is captured by that stream", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      const other = kit.name("other")
      yield* ensure([
        { name: s, subjects: [kit.subject("orders", ">")] },
        { name: other, subjects: [kit.subject("other", ">")] }
      ])
      const log = yield* EventLog.EventLog
      const subject = kit.subject("orders", "x")
      assert.strictEqual((yield* log.append(subject, kit.envelope(1), { expectedStream: s })).stream, s)
      const failed = yield* Effect.flip(log.append(subject, kit.envelope(2), { expectedStream: other }))
      const reason = reasonOf(failed)
      assert.strictEqual(reason._tag, "WrongStream")
      if (reason._tag === "WrongStream") assert.strictEqual(reason.expected, other)
      assert.strictEqual((yield* info(s)).messages, 1)
      assert.strictEqual((yield* info(other)).messages, 0)
    }))

  test("read streams stored messages in order, from a sequence, to a sequence, by filter", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("events")
      yield* ensure([{ name: s, subjects: [kit.subject("events", ">")] }])
      const log = yield* EventLog.EventLog
      const a = kit.subject("events", "a")
      const b = kit.subject("events", "b")
      for (let n = 1; n <= 6; n++) yield* log.append(n % 2 === 1 ? a : b, kit.envelope(n))
      const all = yield* readAll(s)
      assert.deepStrictEqual(all.map((m) => m.sequence), [1, 2, 3, 4, 5, 6])
      assert.deepStrictEqual(all.map(nOf), [1, 2, 3, 4, 5, 6])
      assert.deepStrictEqual(all.map((m) => m.subject), [a, b, a, b, a, b])
      for (let i = 1; i < all.length; i++) assert.isTrue(all[i]!.timestamp >= all[i - 1]!.timestamp)
      const seq = (options: EventLog.ReadOptions) => Effect.map(readAll(s, options), (ms) => ms.map((m) => m.sequence))
      assert.deepStrictEqual(yield* seq({ from: { sequence: 3 } }), [3, 4, 5, 6])
      assert.deepStrictEqual(yield* seq({ to: { sequence: 4 } }), [1, 2, 3, 4])
      assert.deepStrictEqual(yield* seq({ from: { sequence: 2 }, to: { sequence: 5 } }), [2, 3, 4, 5])
      assert.deepStrictEqual(yield* seq({ filter: a }), [1, 3, 5])
      assert.deepStrictEqual(yield* seq({ filter: kit.subject("events", "*") }), [1, 2, 3, 4, 5, 6])
      assert.deepStrictEqual(yield* seq({ filter: b, from: { sequence: 3 }, to: { sequence: 5 } }), [4])
      assert.deepStrictEqual(yield* seq({ from: { sequence: 7 } }), [])
    }))

  test("read from and to a time", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("events")
      yield* ensure([{ name: s, subjects: [kit.subject("events", ">")] }])
      const log = yield* EventLog.EventLog
      const subject = kit.subject("events", "x")
      for (let n = 1; n <= 3; n++) yield* log.append(subject, kit.envelope(n))
      yield* kit.advance("500 millis")
      const mark = yield* kit.now
      yield* kit.advance("500 millis")
      for (let n = 4; n <= 6; n++) yield* log.append(subject, kit.envelope(n))
      const seq = (options: EventLog.ReadOptions) => Effect.map(readAll(s, options), (ms) => ms.map((m) => m.sequence))
      assert.deepStrictEqual(yield* seq({ from: { time: mark } }), [4, 5, 6])
      assert.deepStrictEqual(yield* seq({ to: { time: mark } }), [1, 2, 3])
      assert.deepStrictEqual(yield* seq({ from: { sequence: 2 }, to: { time: mark } }), [2, 3])
      const stored = yield* readAll(s)
      assert.isTrue(stored.slice(0, 3).every((m) => m.timestamp < mark))
      assert.isTrue(stored.slice(3).every((m) => m.timestamp > mark))
    }), { feature: "readByTime" })

  test("read of an empty stream is empty; read fails with DecodeError on a stored message that is not an envelope", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("events")
      yield* ensure([{ name: s, subjects: [kit.subject("events", ">")] }])
      const log = yield* EventLog.EventLog
      assert.deepStrictEqual(yield* readAll(s), [])
      yield* log.append(kit.subject("events", "x"), kit.envelope(1))
      const malformed = raw(kit, 2)
      const headers = { ...malformed.headers }
      delete headers[Wire.HeaderNames.messageId]
      yield* log.appendRaw(kit.subject("events", "x"), { headers, body: malformed.body })
      assert.strictEqual((yield* info(s)).messages, 2)
      const reason = yield* failsWith(readAll(s), "DecodeError")
      assert.strictEqual(reason.header, Wire.HeaderNames.messageId)
      // The valid message before it is still readable.
      assert.deepStrictEqual((yield* readAll(s, { to: { sequence: 1 } })).map(nOf), [1])
      // Reading stops at the bad message with a failure, after what came before it.
      const seen: Array<number> = []
      const exit = yield* Effect.exit(Stream.runForEach(log.read(s), (m) => Effect.sync(() => seen.push(m.sequence))))
      assert.deepStrictEqual(seen, [1])
      assert.isTrue(exit._tag === "Failure")
    }))

  test("info reports subjects, counts, sequences, bytes and consumers", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">"), kit.subject("returns", ">")] }])
      const empty = yield* info(s)
      assert.strictEqual(empty.name, s)
      assert.deepStrictEqual([...empty.subjects].sort(), [kit.subject("orders", ">"), kit.subject("returns", ">")].sort())
      assert.deepStrictEqual(
        { ...infoCounts(empty), bytes: empty.bytes, consumers: empty.consumers },
        { messages: 0, firstSequence: 0, lastSequence: 0, bytes: 0, consumers: 0 }
      )
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(1))
      yield* log.append(kit.subject("returns", "x"), kit.envelope(2))
      yield* log.append(kit.subject("orders", "y"), kit.envelope(3))
      yield* ensure([], [{ stream: s, name: kit.name("one") }, { stream: s, name: kit.name("two") }])
      const full = yield* info(s)
      assert.deepStrictEqual(infoCounts(full), { messages: 3, firstSequence: 1, lastSequence: 3 })
      assert.strictEqual(full.consumers, 2)
      assert.isAbove(full.bytes, 0)
    }))

  test("a stream append is also seen by a core subscriber of the subject", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      const capture = yield* Capture.make(kit.subject("orders", ">"))
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "created"), kit.envelope(1))
      const got = yield* kit.eventually(capture.messages, (ms) => ms.length >= 1, { what: "the core subscriber got it" })
      yield* kit.advance("200 millis")
      assert.strictEqual((yield* capture.messages).length, 1)
      assert.strictEqual(got[0]!.subject, kit.subject("orders", "created"))
      assert.strictEqual(got[0]!.envelope.identity.messageId, kit.envelope(1).identity.messageId)
      assert.strictEqual(nOf(got[0]!), 1)
    }))
}
