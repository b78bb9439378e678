import { EventLog, Topology, TransportError, Wire } from "@herald/transport"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import { envelope, nOf, reasonOf, run } from "./memory-helpers.ts"

const fails = <A, R>(effect: Effect.Effect<A, TransportError.TransportError, R>) =>
  Effect.map(Effect.exit(effect), reasonOf)

const ensureStream = (config: Topology.StreamConfig) => Topology.Topology.use((t) => t.ensureStream(config))
const ensureConsumer = (config: Topology.ConsumerConfig) => Topology.Topology.use((t) => t.ensureConsumer(config))
const sequences = (stream: string) =>
  MemoryTransport.MemoryTransport.use((m) =>
    Effect.map(m.streamMessages(stream), (ms) => ms.map((x) => x.sequence))
  )
const pullNow = (stream: string, consumer: string, batch = 100) =>
  EventLog.EventLog.use((log) => log.pull(stream, consumer, { batch, expires: "1 hour" }))
const ackAll = (ds: ReadonlyArray<EventLog.Delivery>) => Effect.forEach(ds, (d) => d.ack, { discard: true })

/** A raw message with no headers: its stored size is subject bytes + body bytes. */
const rawOf = (bytes: number, headers: Record<string, string> = {}): Wire.RawMessage => ({
  headers,
  body: new Uint8Array(bytes)
})

describe("MemoryTransport EventLog: limits", () => {
  it.effect("maxBytes with discard old removes the oldest messages; bytes count subject, header block and body", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "B", subjects: ["b.>"], maxBytes: 40 })
      // "b.x" (3 bytes) + 10 bytes body = 13 bytes each.
      for (let i = 0; i < 3; i++) yield* log.appendRaw("b.x", rawOf(10))
      expect((yield* log.info("B")).bytes).toBe(39)
      yield* log.appendRaw("b.x", rawOf(10))
      const info = yield* log.info("B")
      expect([info.messages, info.bytes, info.firstSequence, info.lastSequence]).toEqual([3, 39, 2, 4])
      // A header block: "NATS/1.0\r\n" + "k: v\r\n" + "\r\n" = 10 + 6 + 2 bytes.
      yield* log.appendRaw("b.x", rawOf(0, { k: "v" }))
      // 13 + 13 + 21 > 40: the oldest goes.
      expect((yield* log.info("B")).bytes).toBe(13 + 21)
      expect(yield* sequences("B")).toEqual([4, 5])
    })))

  it.effect("maxBytes with discard new refuses the append that does not fit", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "B", subjects: ["b.>"], maxBytes: 40, discard: "new" })
      for (let i = 0; i < 3; i++) yield* log.appendRaw("b.x", rawOf(10))
      expect(yield* fails(log.appendRaw("b.x", rawOf(10)))).toMatchObject({
        _tag: "LimitExceeded",
        stream: "B",
        limit: "maxBytes"
      })
      // Even an empty body does not fit: the subject alone is 3 bytes.
      expect(yield* fails(log.appendRaw("b.x", rawOf(0)))).toMatchObject({ _tag: "LimitExceeded" })
      expect(yield* sequences("B")).toEqual([1, 2, 3])
      expect((yield* log.info("B")).lastSequence).toBe(3)
    })))

  it.effect("maxMessagesPerSubject keeps the newest messages of each subject", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const memory = yield* MemoryTransport.MemoryTransport
      yield* ensureStream({ name: "S", subjects: ["s.*"], maxMessagesPerSubject: 2 })
      const subjects = ["s.a", "s.b", "s.a", "s.a", "s.b", "s.b", "s.b", "s.c"]
      for (let i = 0; i < subjects.length; i++) yield* log.append(subjects[i]!, envelope(i + 1))
      const stored = yield* memory.streamMessages("S")
      expect(stored.map((m) => [m.sequence, m.subject])).toEqual([
        [3, "s.a"],
        [4, "s.a"],
        [6, "s.b"],
        [7, "s.b"],
        [8, "s.c"]
      ])
      // The last sequence of a subject follows what is stored.
      expect(yield* fails(log.append("s.a", envelope(9), { expectedLastSubjectSequence: 3 }))).toMatchObject({
        _tag: "WrongLastSequence",
        scope: "subject",
        expected: 3,
        actual: 4
      })
      expect((yield* log.append("s.a", envelope(9), { expectedLastSubjectSequence: 4 })).sequence).toBe(9)
    })))

  it.effect("maxMessageSize refuses a larger payload with MessageTooLarge", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "M", subjects: ["m"], maxMessageSize: 100 })
      yield* log.appendRaw("m", rawOf(100))
      expect(yield* fails(log.appendRaw("m", rawOf(101)))).toMatchObject({
        _tag: "MessageTooLarge",
        size: 101,
        max: 100
      })
      expect(yield* sequences("M")).toEqual([1])
    })))

  it.effect("maxAge expires lazily against the clock; without an explicit window, dedupe is bounded by maxAge", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "A", subjects: ["a"], maxAge: "10 seconds" })
      yield* log.append("a", envelope(1))
      yield* TestClock.adjust("5 seconds")
      yield* log.append("a", envelope(2))
      yield* TestClock.adjust("4999 millis")
      expect(yield* sequences("A")).toEqual([1, 2])
      yield* TestClock.adjust("1 millis")
      expect(yield* sequences("A")).toEqual([2])
      // Message 1's id is outside the (10 s) window: stored again.
      expect(yield* log.append("a", envelope(1))).toEqual({ stream: "A", sequence: 3, duplicate: false })
      expect(yield* log.append("a", envelope(2))).toEqual({ stream: "A", sequence: 2, duplicate: true })
      yield* TestClock.adjust("1 minute")
      const info = yield* log.info("A")
      expect([info.messages, info.firstSequence, info.lastSequence, info.bytes]).toEqual([0, 0, 3, 0])
    })))

  it.effect("duplicate window: 2 minutes by default, measured from the first copy", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "D", subjects: ["d"] })
      expect((yield* log.append("d", envelope(1))).sequence).toBe(1)
      yield* TestClock.adjust("119999 millis")
      expect(yield* log.append("d", envelope(1))).toEqual({ stream: "D", sequence: 1, duplicate: true })
      yield* TestClock.adjust("1 millis")
      expect(yield* log.append("d", envelope(1))).toEqual({ stream: "D", sequence: 2, duplicate: false })
      // A raw message without Nats-Msg-Id is never a duplicate.
      yield* log.appendRaw("d", rawOf(1))
      yield* log.appendRaw("d", rawOf(1))
      expect(yield* sequences("D")).toEqual([1, 2, 3, 4])
    })))

  it.effect("a duplicate answers duplicate: true before any expectation is checked", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "E", subjects: ["e.*"] })
      yield* log.append("e.a", envelope(1))
      yield* log.append("e.a", envelope(2))
      expect(yield* log.append("e.a", envelope(1), { expectedLastSequence: 7, expectedStream: "OTHER" }))
        .toEqual({ stream: "E", sequence: 1, duplicate: true })
      expect(yield* fails(log.append("e.a", envelope(3), { expectedLastSequence: 1 }))).toMatchObject({
        _tag: "WrongLastSequence",
        stream: "E",
        scope: "stream",
        expected: 1,
        actual: 2
      })
      expect((yield* fails(log.append("e.a", envelope(3), { expectedStream: "OTHER" })))._tag).toBe("WrongStream")
    })))

  it.effect("expectations also come from the Nats-Expected-* headers of a raw message", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "H", subjects: ["h.*"] })
      const raw = (n: number, headers: Record<string, string>) => {
        const encoded = Wire.encode(envelope(n))
        if (Result.isFailure(encoded)) throw encoded.failure
        return { headers: { ...encoded.success.headers, ...headers }, body: encoded.success.body }
      }
      yield* log.appendRaw("h.a", raw(1, { [Wire.HeaderNames.expectedLastSequence]: "0" }))
      expect(yield* fails(log.appendRaw("h.a", raw(2, { [Wire.HeaderNames.expectedLastSequence]: "0" }))))
        .toMatchObject({ _tag: "WrongLastSequence", scope: "stream", expected: 0, actual: 1 })
      expect(yield* fails(log.appendRaw("h.b", raw(3, { [Wire.HeaderNames.expectedLastSubjectSequence]: "1" }))))
        .toMatchObject({ _tag: "WrongLastSequence", scope: "subject", expected: 1, actual: 0 })
      yield* log.appendRaw("h.b", raw(4, { [Wire.HeaderNames.expectedStream]: "H" }))
      expect(yield* sequences("H")).toEqual([1, 2])
    })))

  it.effect("append to an unknown subject fails with NoStreamForSubject; to a deleted stream's subject too", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      expect(yield* fails(log.append("nowhere", envelope(1)))).toMatchObject({
        _tag: "NoStreamForSubject",
        subject: "nowhere"
      })
      yield* ensureStream({ name: "X", subjects: ["x"] })
      yield* log.append("x", envelope(1))
      yield* Topology.Topology.use((t) => t.deleteStream("X"))
      expect((yield* fails(log.append("x", envelope(2))))._tag).toBe("NoStreamForSubject")
      expect((yield* fails(log.info("X")))._tag).toBe("StreamNotFound")
    })))
})

describe("MemoryTransport EventLog: retention", () => {
  it.effect("workqueue: a message is removed once acked or termed; sequences keep counting", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "WQ", subjects: ["wq.>"], retention: "workqueue" })
      yield* ensureConsumer({ stream: "WQ", name: "w" })
      for (let n = 1; n <= 4; n++) yield* log.append("wq.x", envelope(n))
      const got = yield* pullNow("WQ", "w")
      expect(got.map(nOf)).toEqual([1, 2, 3, 4])
      yield* got[0]!.ack
      yield* got[2]!.term()
      yield* got[3]!.nak()
      expect(yield* sequences("WQ")).toEqual([2, 4])
      const [again] = yield* pullNow("WQ", "w")
      expect([again!.streamSequence, again!.deliveryCount]).toEqual([4, 2])
      yield* again!.ack
      yield* got[1]!.ack
      const info = yield* log.info("WQ")
      expect([info.messages, info.bytes, info.firstSequence, info.lastSequence]).toEqual([0, 0, 0, 4])
      expect((yield* log.append("wq.x", envelope(5))).sequence).toBe(5)
    })))

  it.effect("workqueue: consumers need filters that do not overlap, and must deliver all", () =>
    run(Effect.gen(function*() {
      yield* ensureStream({ name: "WQ", subjects: ["wq.>"], retention: "workqueue" })
      yield* ensureConsumer({ stream: "WQ", name: "a", filterSubject: "wq.a.>" })
      yield* ensureConsumer({ stream: "WQ", name: "b", filterSubject: "wq.b.*" })
      expect((yield* fails(ensureConsumer({ stream: "WQ", name: "c", filterSubject: "wq.*.x" })))._tag)
        .toBe("TopologyConflict")
      expect((yield* fails(ensureConsumer({ stream: "WQ", name: "d" })))._tag).toBe("TopologyConflict")
      expect(
        (yield* fails(ensureConsumer({
          stream: "WQ",
          name: "e",
          filterSubject: "wq.e",
          deliverPolicy: Topology.DeliverPolicy.new
        })))._tag
      ).toBe("InvalidConfig")
      // Each one removes what it acks.
      const log = yield* EventLog.EventLog
      yield* log.append("wq.a.1", envelope(1))
      yield* log.append("wq.b.1", envelope(2))
      yield* ackAll(yield* pullNow("WQ", "b"))
      expect(yield* sequences("WQ")).toEqual([1])
    })))

  it.effect("interest: kept until every interested consumer acked it; nothing kept without interest", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "I", subjects: ["i.>"], retention: "interest" })
      // No consumer: the sequence is used, nothing is stored.
      expect(yield* log.append("i.a", envelope(1))).toEqual({ stream: "I", sequence: 1, duplicate: false })
      expect((yield* log.info("I")).messages).toBe(0)
      yield* ensureConsumer({ stream: "I", name: "all" })
      yield* ensureConsumer({ stream: "I", name: "onlyA", filterSubject: "i.a" })
      yield* log.append("i.a", envelope(2))
      yield* log.append("i.b", envelope(3))
      yield* log.append("i.a", envelope(4))
      const all = yield* pullNow("I", "all")
      expect(all.map((d) => d.streamSequence)).toEqual([2, 3, 4])
      yield* ackAll(all)
      // 3 only interested "all"; 2 and 4 wait for "onlyA".
      expect(yield* sequences("I")).toEqual([2, 4])
      const onlyA = yield* pullNow("I", "onlyA")
      expect(onlyA.map((d) => d.streamSequence)).toEqual([2, 4])
      yield* onlyA[1]!.term()
      expect(yield* sequences("I")).toEqual([2])
      // Deleting the consumer that holds message 2 removes the last interest in it.
      yield* Topology.Topology.use((t) => t.deleteConsumer("I", "onlyA"))
      expect(yield* sequences("I")).toEqual([])
    })))
})

describe("MemoryTransport EventLog: read", () => {
  it.effect("read is a snapshot: messages appended while reading are not included", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "R", subjects: ["r.*"] })
      for (let n = 1; n <= 3; n++) yield* log.append("r.x", envelope(n))
      let appended = 0
      const read = yield* log.read("R").pipe(
        Stream.tap(() =>
          Effect.flatMap(log.append("r.x", envelope(100 + appended++)), () => Effect.void)
        ),
        Stream.runCollect
      )
      expect(read.map(nOf)).toEqual([1, 2, 3])
      expect((yield* log.info("R")).messages).toBe(6)
      // `to` beyond the end is the end; `from` by time before everything is the first message.
      expect((yield* Stream.runCollect(log.read("R", { from: { time: -1 }, to: { sequence: 100 } }))).length).toBe(6)
      expect((yield* Stream.runCollect(log.read("R", { filter: "r.>" }))).length).toBe(6)
      expect((yield* fails(Stream.runCollect(log.read("R", { filter: "r..x" }))))._tag).toBe("InvalidSubject")
    })))

  it.effect("a stored message that does not decode fails the read with DecodeError naming its sequence", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* ensureStream({ name: "R", subjects: ["r.*"] })
      yield* log.append("r.x", envelope(1))
      yield* log.appendRaw("r.x", rawOf(3))
      const seen: Array<number> = []
      const reason = yield* fails(Stream.runForEach(log.read("R"), (m) => Effect.sync(() => void seen.push(m.sequence))))
      expect(seen).toEqual([1])
      expect(reason._tag).toBe("DecodeError")
      expect(reason._tag === "DecodeError" ? reason.detail : "").toContain("sequence 2")
    })))
})

describe("MemoryTransport Topology", () => {
  it.effect("created / unchanged / updated, with defaults compared as JetStream holds them", () =>
    run(Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const base: Topology.StreamConfig = { name: "T", subjects: ["t.a", "t.b"] }
      expect((yield* topology.ensureStream(base)).action).toBe("created")
      expect((yield* topology.ensureStream({ ...base, subjects: ["t.b", "t.a"], retention: "limits", duplicateWindow: "2 minutes" })).action)
        .toBe("unchanged")
      expect((yield* topology.ensureStream({ ...base, maxMessages: 10 })).action).toBe("updated")
      const conflict = yield* fails(topology.ensureStream({ ...base, retention: "workqueue" }))
      expect(conflict._tag).toBe("TopologyConflict")
      expect(conflict._tag === "TopologyConflict" ? conflict.detail : "").toContain("retention")
      expect((yield* fails(topology.ensureStream({ ...base, storage: "memory" })))._tag).toBe("TopologyConflict")
      expect((yield* fails(topology.ensureStream({ name: "U", subjects: ["t.*"] })))._tag).toBe("TopologyConflict")
      expect((yield* fails(topology.ensureStream({ ...base, maxAge: "1 minute", duplicateWindow: "2 minutes" })))._tag)
        .toBe("InvalidConfig")

      const consumer: Topology.ConsumerConfig = { stream: "T", name: "c", filterSubject: "t.a" }
      expect((yield* topology.ensureConsumer(consumer)).action).toBe("created")
      expect((yield* topology.ensureConsumer({ ...consumer, ackWait: "30 seconds", maxAckPending: 1000 })).action)
        .toBe("unchanged")
      expect((yield* topology.ensureConsumer({ ...consumer, maxDeliver: 4 })).action).toBe("updated")
      const filter = yield* fails(topology.ensureConsumer({ ...consumer, filterSubject: "t.b" }))
      expect(filter._tag === "TopologyConflict" ? filter.detail : "").toContain("filterSubject")
      const policy = yield* fails(topology.ensureConsumer({ ...consumer, deliverPolicy: Topology.DeliverPolicy.new }))
      expect(policy._tag === "TopologyConflict" ? policy.detail : "").toContain("deliverPolicy")
      expect((yield* fails(topology.ensureConsumer({ stream: "T", name: "d", filterSubject: "elsewhere" })))._tag)
        .toBe("InvalidConfig")
      expect((yield* topology.consumerConfig("T", "c")).maxDeliver).toBe(4)
      expect((yield* topology.listStreams).map((s) => s.name)).toEqual(["T"])
    })))
})
