/**
 * NatsEventLog against a real nats-server (one per file, `max_payload` 64 KiB):
 * what the conformance suite does not pin down, and the nats-server 2.9 /
 * nats.js 3.4 behaviours the implementation works around.
 */
import { Fixtures, NatsServer, Wait } from "@herald/testing"
import { ConsumerPolicy, DeadLetter, EventLog, Topology, TransportError, Wire } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { NatsConnection, NatsEventLog, NatsTopology } from "../src/index.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsConnection.layer({ servers: server.url, name: "eventlog-test" }))
).pipe(Layer.provideMerge(NatsServer.layer({ maxPayload: 65_536 })))

const Live = Layer.mergeAll(NatsEventLog.layer, NatsTopology.layer).pipe(Layer.provideMerge(Nats))

let counter = 0
const unique = () => {
  const id = `${++counter}x${Math.random().toString(36).slice(2, 6)}`
  return { stream: `EL${id}`.toUpperCase(), prefix: `el${id}`, consumer: `C${id}`.toUpperCase() }
}

const decoder = new TextDecoder()
const envelope = (n: number) => Fixtures.envelope({ identity: n, payload: { n } })
const nOf = (m: { readonly envelope: { readonly body: Uint8Array } }) =>
  (JSON.parse(decoder.decode(m.envelope.body)) as { readonly n: number }).n

const reasonOf = <A, R>(effect: Effect.Effect<A, TransportError.TransportError, R>) =>
  Effect.map(Effect.flip(effect), (e) => e.reason)

const readAll = (stream: string, options?: EventLog.ReadOptions) =>
  EventLog.EventLog.use((log) => Stream.runCollect(log.read(stream, options)))

/** Every settlement payload sent to the consumer's ack subjects, with the stream sequence it settles. */
const captureAcks = (stream: string, consumer: string) =>
  Effect.gen(function*() {
    const { client } = yield* NatsConnection.NatsConnection
    const seen: Array<{ readonly sequence: number; readonly payload: string }> = []
    const sub = client.subscribe(`$JS.ACK.${stream}.${consumer}.>`, {
      callback: (_err, msg) => {
        const tokens = msg.subject.split(".")
        seen.push({ sequence: Number(tokens[5]), payload: decoder.decode(msg.data) })
      }
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe()))
    // Everything published before a flush has been routed when it returns.
    const settled = Effect.as(Effect.promise(() => client.flush()), seen)
    return settled
  })

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("NatsEventLog", (it) => {
  it.effect("append sends the message id as Nats-Msg-Id; the expectation headers 2.9 stores are not read back", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }], consumers: [] })
      const log = yield* EventLog.EventLog
      const { manager } = yield* NatsConnection.NatsConnection
      const sent = envelope(1)
      const first = yield* log.append(`${prefix}.x`, sent, { expectedLastSequence: 0, expectedLastSubjectSequence: 0 })
      assert.deepStrictEqual(first, { stream, sequence: 1, duplicate: false })
      const stored = yield* Effect.promise(() => manager.streams.getMessage(stream, { seq: 1 }))
      assert.strictEqual(stored?.header.get("Nats-Msg-Id"), sent.identity.messageId)
      // nats-server 2.9.10 keeps the expectations with the message...
      assert.strictEqual(stored?.header.get("Nats-Expected-Last-Sequence"), "0")
      // ...and Herald does not read them back as envelope headers.
      const [read] = yield* readAll(stream)
      assert.deepStrictEqual(read!.envelope.headers, {})
      assert.deepStrictEqual(Object.keys(read!.raw.headers).filter((h) => h.toLowerCase().startsWith("nats-expected")), [])
      // The same id again: a duplicate with the first copy's sequence.
      assert.deepStrictEqual(yield* log.append(`${prefix}.y`, sent), { stream, sequence: 1, duplicate: true })
      assert.strictEqual((yield* log.info(stream)).messages, 1)
    }))

  it.effect("expectedLastSequence 0 is checked by nats-server 2.9.10 (with nats.js 3.4, which sends the 0)", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }], consumers: [] })
      const log = yield* EventLog.EventLog
      assert.strictEqual((yield* log.append(`${prefix}.x`, envelope(1), { expectedLastSequence: 0 })).sequence, 1)
      const reason = yield* reasonOf(log.append(`${prefix}.x`, envelope(2), { expectedLastSequence: 0 }))
      assert.deepStrictEqual(
        reason._tag === "WrongLastSequence" ? [reason.stream, reason.scope, reason.expected, reason.actual] : reason._tag,
        [stream, "stream", 0, 1]
      )
    }))

  it.effect("WrongLastSequence names the expectation that failed when both are given", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }], consumers: [] })
      const log = yield* EventLog.EventLog
      yield* log.append(`${prefix}.a`, envelope(1))
      yield* log.append(`${prefix}.b`, envelope(2))
      // The stream is at 2 (right), the subject at 1 (wrong).
      const subject = yield* reasonOf(
        log.append(`${prefix}.a`, envelope(3), { expectedLastSequence: 2, expectedLastSubjectSequence: 2 })
      )
      assert.deepStrictEqual(
        subject._tag === "WrongLastSequence" ? [subject.stream, subject.scope, subject.expected, subject.actual] : subject._tag,
        [stream, "subject", 2, 1]
      )
      // The stream is wrong (checked first).
      const streamScope = yield* reasonOf(
        log.append(`${prefix}.a`, envelope(3), { expectedLastSequence: 1, expectedLastSubjectSequence: 1 })
      )
      assert.deepStrictEqual(
        streamScope._tag === "WrongLastSequence"
          ? [streamScope.stream, streamScope.scope, streamScope.expected, streamScope.actual]
          : streamScope._tag,
        [stream, "stream", 1, 2]
      )
      // WrongStream names both streams.
      const other = unique()
      yield* Topology.ensure({ streams: [{ name: other.stream, subjects: [`${other.prefix}.>`] }], consumers: [] })
      const wrong = yield* reasonOf(log.append(`${prefix}.a`, envelope(4), { expectedStream: other.stream }))
      assert.deepStrictEqual(
        wrong._tag === "WrongStream" ? [wrong.subject, wrong.expected, wrong.actual] : wrong._tag,
        [`${prefix}.a`, other.stream, stream]
      )
      assert.strictEqual((yield* log.info(stream)).messages, 2)
    }))

  it.effect("a message larger than the server's max_payload fails with MessageTooLarge before it is sent", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }], consumers: [] })
      const log = yield* EventLog.EventLog
      const big = Fixtures.envelope({ identity: 1, body: new Uint8Array(70_000) })
      const reason = yield* reasonOf(log.append(`${prefix}.x`, big))
      assert.strictEqual(reason._tag, "MessageTooLarge")
      if (reason._tag === "MessageTooLarge") {
        assert.strictEqual(reason.max, 65_536)
        assert.isAbove(reason.size, 70_000)
      }
      assert.strictEqual((yield* log.info(stream)).messages, 0)
    }))

  it.effect("pull honours an expires below one second and takes what is ready without waiting for a full batch", () =>
    Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`] }],
        consumers: [{ stream, name: consumer, ackWait: "30 seconds" }]
      })
      const log = yield* EventLog.EventLog
      for (let n = 1; n <= 3; n++) yield* log.append(`${prefix}.x`, envelope(n))
      const got = yield* log.pull(stream, consumer, { batch: 10, expires: "250 millis" })
      assert.deepStrictEqual(got.map(nOf), [1, 2, 3])
      assert.deepStrictEqual(got.map((d) => [d.streamSequence, d.consumerSequence, d.deliveryCount, d.pending]), [
        [1, 1, 1, 2],
        [2, 2, 1, 1],
        [3, 3, 1, 0]
      ])
      assert.deepStrictEqual(yield* log.pull(stream, consumer, { batch: 10, expires: "200 millis" }), [])
      yield* Effect.forEach(got, (d) => d.ack, { discard: true })
      const lag = yield* log.lag(stream, consumer)
      assert.deepStrictEqual([lag.pending, lag.ackPending, lag.delivered, lag.ackFloor], [0, 0, 3, 3])
    }))

  it.effect("settlements are confirmed by the server and sent once: lag sees an ack at once, later ones send nothing", () =>
    Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`] }],
        consumers: [{ stream, name: consumer, ackWait: "30 seconds" }]
      })
      const log = yield* EventLog.EventLog
      const acks = yield* captureAcks(stream, consumer)
      yield* log.append(`${prefix}.x`, envelope(1))
      yield* log.append(`${prefix}.x`, envelope(2))
      const [d1, d2] = yield* log.pull(stream, consumer, { batch: 2, expires: "1 second" })
      yield* d1!.ack
      // No wait: the ack was applied when `ack` returned.
      const lag = yield* log.lag(stream, consumer)
      assert.deepStrictEqual([lag.ackPending, lag.ackFloor], [1, 1])
      yield* d1!.nak()
      yield* d1!.term("too late")
      yield* d1!.ack
      yield* d2!.inProgress
      yield* d2!.nak("5 seconds")
      yield* d2!.ack
      assert.deepStrictEqual(yield* acks, [
        { sequence: 1, payload: "+ACK" },
        { sequence: 2, payload: "+WPI" },
        { sequence: 2, payload: `-NAK {"delay":5000000000}` }
      ])
    }))

  it.effect("term with a reason terms the delivery on nats-server 2.9 (a bare +TERM: 2.9 ignores +TERM <reason>)", () =>
    Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`] }],
        consumers: [{ stream, name: consumer, ackWait: "1 second" }]
      })
      const log = yield* EventLog.EventLog
      const acks = yield* captureAcks(stream, consumer)
      yield* log.append(`${prefix}.x`, envelope(1))
      const [d] = yield* log.pull(stream, consumer, { expires: "1 second" })
      yield* d!.term("not wanted")
      assert.deepStrictEqual(yield* acks, [{ sequence: 1, payload: "+TERM" }])
      const lag = yield* log.lag(stream, consumer)
      assert.deepStrictEqual([lag.ackPending, lag.ackFloor], [0, 1])
      yield* Effect.sleep("1500 millis")
      assert.deepStrictEqual(yield* log.pull(stream, consumer, { expires: "300 millis" }), [])
    }))

  it.effect("with pull alone, a message that exhausted max_deliver is dead-lettered from the advisory of the next pull", () =>
    Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      const dlq = `${prefix}dlq`
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`] }, { name: `${stream}_DLQ`, subjects: [dlq] }],
        consumers: [{ stream, name: consumer, ackWait: "1 second", maxDeliver: 2, deadLetterSubject: dlq }]
      })
      const log = yield* EventLog.EventLog
      yield* log.append(`${prefix}.x`, envelope(1))
      const [first] = yield* log.pull(stream, consumer, { expires: "1 second" })
      assert.strictEqual(first?.deliveryCount, 1)
      const second = yield* Wait.until(
        log.pull(stream, consumer, { expires: "500 millis" }),
        (ds) => ds.length > 0,
        "the redelivery"
      )
      assert.strictEqual(second[0]!.deliveryCount, 2)
      yield* Effect.sleep("1200 millis")
      // The server tries to deliver again: the advisory, then nothing to return.
      assert.deepStrictEqual(yield* log.pull(stream, consumer, { expires: "500 millis" }), [])
      const letters = yield* Wait.until(
        Stream.runCollect(log.readRaw(`${stream}_DLQ`)),
        (ls) => ls.length > 0,
        "the dead letter"
      )
      assert.strictEqual(letters.length, 1)
      const info = DeadLetter.parse(letters[0]!.raw)
      assert.deepStrictEqual(
        [info?.reason, info?.stream, info?.consumer, info?.sequence, info?.deliveryCount, info?.subject],
        [ConsumerPolicy.maxDeliveriesReason(2), stream, consumer, 1, 2, `${prefix}.x`]
      )
      assert.strictEqual(letters[0]!.raw.headers[Wire.HeaderNames.messageId], envelope(1).identity.messageId)
      assert.strictEqual(letters[0]!.raw.headers[Wire.HeaderNames.natsMsgId], `dlq:${stream}:${consumer}:1`)
    }))

  it.effect("read of a workqueue stream neither consumes nor disturbs it (direct gets, no consumer)", () =>
    Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`], retention: "workqueue" }],
        consumers: [{ stream, name: consumer, ackWait: "30 seconds" }]
      })
      const log = yield* EventLog.EventLog
      for (let n = 1; n <= 5; n++) yield* log.append(`${prefix}.${n % 2 === 0 ? "even" : "odd"}`, envelope(n))
      assert.deepStrictEqual((yield* readAll(stream)).map(nOf), [1, 2, 3, 4, 5])
      assert.deepStrictEqual((yield* readAll(stream, { filter: `${prefix}.even` })).map(nOf), [2, 4])
      assert.deepStrictEqual((yield* readAll(stream, { from: { sequence: 2 }, to: { sequence: 4 } })).map(nOf), [2, 3, 4])
      assert.deepStrictEqual(
        (yield* readAll(stream, { from: { sequence: 2 }, filter: `${prefix}.odd` })).map((m) => m.sequence),
        [3, 5]
      )
      const info = yield* log.info(stream)
      assert.deepStrictEqual([info.messages, info.consumers], [5, 1])
      // The durable consumer still gets everything; acked messages leave the stream.
      const got = yield* log.pull(stream, consumer, { batch: 10, expires: "1 second" })
      assert.deepStrictEqual(got.map(nOf), [1, 2, 3, 4, 5])
      yield* got[0]!.ack
      yield* got[1]!.ack
      yield* Wait.until(log.info(stream), (i) => i.messages === 3, "acked messages removed")
      assert.deepStrictEqual((yield* readAll(stream)).map(nOf), [3, 4, 5])
    }))

  it.effect("read of an interest stream keeps its messages and leaves no consumer behind", () =>
    Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`], retention: "interest" }],
        consumers: [{ stream, name: consumer, ackWait: "30 seconds" }]
      })
      const log = yield* EventLog.EventLog
      for (let n = 1; n <= 3; n++) yield* log.append(`${prefix}.x`, envelope(n))
      assert.deepStrictEqual((yield* readAll(stream)).map(nOf), [1, 2, 3])
      const info = yield* log.info(stream)
      assert.deepStrictEqual([info.messages, info.consumers], [3, 1])
    }))

  it.effect("read is a snapshot: it ends at the last sequence when it started, and removes its ephemeral consumer", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }], consumers: [] })
      const log = yield* EventLog.EventLog
      for (let n = 1; n <= 600; n++) yield* log.append(`${prefix}.x`, envelope(n))
      const seen: Array<number> = []
      yield* Stream.runForEach(log.read(stream), (m) =>
        Effect.gen(function*() {
          seen.push(m.sequence)
          if (m.sequence === 1) {
            yield* log.append(`${prefix}.x`, envelope(601))
            yield* log.append(`${prefix}.x`, envelope(602))
          }
        }))
      assert.strictEqual(seen.length, 600)
      assert.deepStrictEqual(seen, Array.from({ length: 600 }, (_, i) => i + 1))
      const info = yield* log.info(stream)
      assert.deepStrictEqual([info.messages, info.lastSequence, info.consumers], [602, 602, 0])
      // to a sequence beyond the end, from a sequence past the end
      assert.strictEqual((yield* readAll(stream, { from: { sequence: 590 }, to: { sequence: 10_000 } })).length, 13)
      assert.deepStrictEqual(yield* readAll(stream, { from: { sequence: 603 } }), [])
      assert.strictEqual((yield* log.info(stream)).consumers, 0)
    }))

  it.effect("read fails with a DecodeError naming the sequence; readRaw returns the message as stored", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }], consumers: [] })
      const log = yield* EventLog.EventLog
      yield* log.append(`${prefix}.x`, envelope(1))
      yield* log.appendRaw(`${prefix}.x`, Fixtures.rawMalformed("badTime", envelope(2)))
      const reason = yield* reasonOf(readAll(stream))
      assert.strictEqual(reason._tag, "DecodeError")
      if (reason._tag === "DecodeError") {
        assert.strictEqual(reason.header, Wire.HeaderNames.occurredAt)
        assert.include(reason.detail, `stream ${stream} sequence 2`)
      }
      const raw = yield* Stream.runCollect(log.readRaw(stream))
      assert.deepStrictEqual(raw.map((m) => [m.sequence, m.subject, m.stream]), [[1, `${prefix}.x`, stream], [
        2,
        `${prefix}.x`,
        stream
      ]])
      assert.strictEqual(raw[1]!.raw.headers[Wire.HeaderNames.occurredAt], "yesterday")
    }))

  it.effect("info and lag report the server's values; an unknown consumer fails with ConsumerNotFound", () =>
    Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.a`, `${prefix}.b`] }],
        consumers: [{ stream, name: consumer, ackWait: "30 seconds" }]
      })
      const log = yield* EventLog.EventLog
      const empty = yield* log.info(stream)
      assert.deepStrictEqual(
        [empty.name, [...empty.subjects].sort(), empty.messages, empty.bytes, empty.firstSequence, empty.lastSequence, empty.consumers],
        [stream, [`${prefix}.a`, `${prefix}.b`], 0, 0, 0, 0, 1]
      )
      for (let n = 1; n <= 4; n++) yield* log.append(`${prefix}.${n % 2 === 0 ? "b" : "a"}`, envelope(n))
      const [d1, d2] = yield* log.pull(stream, consumer, { batch: 2, expires: "1 second" })
      yield* d2!.ack
      yield* d1!.nak()
      const lag = yield* log.lag(stream, consumer)
      assert.deepStrictEqual(
        [lag.stream, lag.consumer, lag.pending, lag.ackPending, lag.redelivered, lag.delivered, lag.ackFloor],
        [stream, consumer, 2, 1, 0, 2, 0]
      )
      const full = yield* log.info(stream)
      assert.deepStrictEqual([full.messages, full.firstSequence, full.lastSequence], [4, 1, 4])
      assert.isAbove(full.bytes, 0)
      const missing = yield* reasonOf(log.lag(stream, "NOPE"))
      assert.deepStrictEqual(
        missing._tag === "ConsumerNotFound" ? [missing.stream, missing.consumer] : missing._tag,
        [stream, "NOPE"]
      )
      assert.strictEqual((yield* reasonOf(log.info("NO_SUCH_STREAM")))._tag, "StreamNotFound")
      assert.isTrue(TransportError.isTransportError(yield* Effect.flip(log.pull(stream, "bad.name"))))
    }))
})
