/**
 * Conformance tests of `Topology`: ensure (created, unchanged, updated),
 * overlap conflicts, invalid configurations, lookups and deletes.
 *
 * @internal
 */
import { EventLog, Topology } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { SuiteContext } from "./context.ts"
import { ensure, info } from "./helpers.ts"
import { failsWith, type Kit } from "./kit.ts"

const changes = (cs: ReadonlyArray<Topology.Change>) => cs.map((c) => ({ kind: c.kind, name: c.name, action: c.action }))

const ours = (kit: Kit) =>
  Effect.map(
    Topology.Topology.use((t) => t.listStreams),
    (streams) => streams.filter((s) => kit.owns(s.name)).map((s) => s.name).sort()
  )

const millis = (d: Duration.Input | undefined) => d === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(d))

const declaration = (kit: Kit, overrides?: { readonly maxMessages?: number; readonly maxDeliver?: number }): Topology.Declaration => {
  const s = kit.name("orders")
  return {
    streams: [{
      name: s,
      subjects: [kit.subject("orders", ">")],
      description: "conformance orders",
      maxMessages: overrides?.maxMessages ?? 100
    }],
    consumers: [
      {
        stream: s,
        name: kit.name("billing"),
        filterSubject: kit.subject("orders", "created"),
        ackWait: "5 seconds",
        maxDeliver: overrides?.maxDeliver ?? 3,
        maxAckPending: 50
      },
      { stream: s, name: kit.name("audit") }
    ]
  }
}

/** @internal */
export const register = ({ test }: SuiteContext): void => {
  test("ensure creates the declared streams, then consumers, and reports them created", (kit) =>
    Effect.gen(function*() {
      const decl = declaration(kit)
      const result = yield* Topology.ensure(decl)
      assert.deepStrictEqual(changes(result), [
        { kind: "stream", name: kit.name("orders"), action: "created" },
        { kind: "consumer", name: kit.name("billing"), action: "created" },
        { kind: "consumer", name: kit.name("audit"), action: "created" }
      ])
      const topology = yield* Topology.Topology
      const listed = (yield* topology.listStreams).find((s) => s.name === kit.name("orders"))
      assert.isDefined(listed, "the stream is not listed")
      assert.deepStrictEqual([...listed!.subjects], [kit.subject("orders", ">")])
      assert.strictEqual(listed!.maxMessages, 100)
      const billing = yield* topology.consumerConfig(kit.name("orders"), kit.name("billing"))
      assert.strictEqual(billing.stream, kit.name("orders"))
      assert.strictEqual(billing.name, kit.name("billing"))
      assert.strictEqual(billing.filterSubject, kit.subject("orders", "created"))
      assert.strictEqual(millis(billing.ackWait), 5000)
      assert.strictEqual(billing.maxDeliver, 3)
      assert.strictEqual(billing.maxAckPending, 50)
      const i = yield* info(kit.name("orders"))
      assert.strictEqual(i.consumers, 2)
      assert.strictEqual(i.messages, 0)
    }))

  test("ensure of an unchanged declaration reports unchanged", (kit) =>
    Effect.gen(function*() {
      yield* Topology.ensure(declaration(kit))
      const again = yield* Topology.ensure(declaration(kit))
      assert.deepStrictEqual(changes(again), [
        { kind: "stream", name: kit.name("orders"), action: "unchanged" },
        { kind: "consumer", name: kit.name("billing"), action: "unchanged" },
        { kind: "consumer", name: kit.name("audit"), action: "unchanged" }
      ])
      const topology = yield* Topology.Topology
      assert.deepStrictEqual(
        changes([yield* topology.ensureStream(declaration(kit).streams![0]!)]),
        [{ kind: "stream", name: kit.name("orders"), action: "unchanged" }]
      )
    }))

  test("durations with a fraction of a millisecond are rounded up, and ensuring them again changes nothing", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      const declared: Topology.Declaration = {
        streams: [{ name: s, subjects: [kit.subject("orders", ">")], maxAge: "90000500 micros", duplicateWindow: "100500 micros" }],
        consumers: [{ stream: s, name: kit.name("c"), ackWait: "2500500 micros" }]
      }
      yield* Topology.ensure(declared)
      assert.deepStrictEqual(changes(yield* Topology.ensure(declared)), [
        { kind: "stream", name: s, action: "unchanged" },
        { kind: "consumer", name: kit.name("c"), action: "unchanged" }
      ])
      const topology = yield* Topology.Topology
      const listed = (yield* topology.listStreams).find((x) => x.name === s)
      assert.deepStrictEqual([millis(listed?.maxAge), millis(listed?.duplicateWindow)], [90_001, 101])
      assert.strictEqual(millis((yield* topology.consumerConfig(s, kit.name("c"))).ackWait), 2_501)
    }))

  test("listStreams and consumerConfig answer the same normal form on every transport", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("orders")
      yield* Topology.ensure({
        streams: [{ name: s, subjects: [kit.subject("orders", "b"), kit.subject("orders", "a")], maxAge: "1 minute", maxMessages: 10 }],
        consumers: [
          { stream: s, name: kit.name("plain") },
          {
            stream: s,
            name: kit.name("backoff"),
            description: "with backoff",
            ackWait: "10 seconds",
            maxDeliver: 4,
            backoff: ["2 seconds", "5 seconds"],
            deliverPolicy: Topology.DeliverPolicy.byStartSequence(3),
            deadLetterSubject: kit.subject("dead")
          }
        ]
      })
      const topology = yield* Topology.Topology
      const listed = (yield* topology.listStreams).find((x) => x.name === s)!
      assert.deepStrictEqual(
        {
          ...listed,
          maxAge: millis(listed.maxAge),
          duplicateWindow: millis(listed.duplicateWindow)
        },
        {
          name: s,
          subjects: [kit.subject("orders", "b"), kit.subject("orders", "a")],
          retention: "limits",
          storage: "file",
          discard: "old",
          duplicateWindow: 60_000,
          replicas: 1,
          maxMessages: 10,
          maxAge: 60_000
        }
      )
      const plain = yield* topology.consumerConfig(s, kit.name("plain"))
      assert.deepStrictEqual({ ...plain, ackWait: millis(plain.ackWait) }, {
        stream: s,
        name: kit.name("plain"),
        deliverPolicy: Topology.DeliverPolicy.all,
        ackWait: 30_000,
        maxAckPending: 1_000
      })
      const backoff = yield* topology.consumerConfig(s, kit.name("backoff"))
      assert.deepStrictEqual(
        { ...backoff, ackWait: millis(backoff.ackWait), backoff: backoff.backoff?.map((b) => millis(b)) },
        {
          stream: s,
          name: kit.name("backoff"),
          description: "with backoff",
          deliverPolicy: Topology.DeliverPolicy.byStartSequence(3),
          ackWait: 2_000,
          maxDeliver: 4,
          backoff: [2_000, 5_000],
          maxAckPending: 1_000,
          deadLetterSubject: kit.subject("dead")
        }
      )
    }))

  test("ensure of a changed limit reports updated and applies it", (kit) =>
    Effect.gen(function*() {
      yield* Topology.ensure(declaration(kit))
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "created"), kit.envelope(1))
      const updated = yield* Topology.ensure(declaration(kit, { maxMessages: 200 }))
      assert.deepStrictEqual(changes(updated), [
        { kind: "stream", name: kit.name("orders"), action: "updated" },
        { kind: "consumer", name: kit.name("billing"), action: "unchanged" },
        { kind: "consumer", name: kit.name("audit"), action: "unchanged" }
      ])
      const topology = yield* Topology.Topology
      const listed = (yield* topology.listStreams).find((s) => s.name === kit.name("orders"))
      assert.strictEqual(listed?.maxMessages, 200)
      // The update keeps the stored messages.
      assert.strictEqual((yield* info(kit.name("orders"))).messages, 1)
      const consumerUpdated = yield* Topology.ensure(declaration(kit, { maxMessages: 200, maxDeliver: 5 }))
      assert.deepStrictEqual(changes(consumerUpdated), [
        { kind: "stream", name: kit.name("orders"), action: "unchanged" },
        { kind: "consumer", name: kit.name("billing"), action: "updated" },
        { kind: "consumer", name: kit.name("audit"), action: "unchanged" }
      ])
      assert.strictEqual((yield* topology.consumerConfig(kit.name("orders"), kit.name("billing"))).maxDeliver, 5)
    }))

  test("overlapping subjects between declared streams fail with TopologyConflict naming both, before anything is created", (kit) =>
    Effect.gen(function*() {
      const wide = kit.name("wide")
      const narrow = kit.name("narrow")
      const unrelated = kit.name("unrelated")
      const reason = yield* failsWith(
        Topology.ensure({
          streams: [
            { name: unrelated, subjects: [kit.subject("unrelated", ">")] },
            { name: wide, subjects: [kit.subject("orders", ">")] },
            { name: narrow, subjects: [kit.subject("orders", "created")] }
          ],
          consumers: [{ stream: wide, name: kit.name("c") }]
        }),
        "TopologyConflict"
      )
      assert.include(reason.detail, wide)
      assert.include(reason.detail, narrow)
      assert.deepStrictEqual(yield* ours(kit), [])
      yield* failsWith(info(unrelated), "StreamNotFound")
    }))

  test("a declared stream overlapping a stream on the server fails with TopologyConflict, creating nothing", (kit) =>
    Effect.gen(function*() {
      const existing = kit.name("existing")
      yield* ensure([{ name: existing, subjects: [kit.subject("orders", ">")] }])
      const clash = kit.name("clash")
      const other = kit.name("other")
      const reason = yield* failsWith(
        ensure([
          { name: other, subjects: [kit.subject("other", ">")] },
          { name: clash, subjects: [kit.subject("orders", "*", "shipped")] }
        ]),
        "TopologyConflict"
      )
      assert.include(reason.detail, existing)
      assert.include(reason.detail, clash)
      assert.deepStrictEqual(yield* ours(kit), [existing])
    }))

  test("ensureStream of subjects another stream captures is refused with TopologyConflict", (kit) =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const existing = kit.name("existing")
      yield* topology.ensureStream({ name: existing, subjects: [kit.subject("orders", ">")] })
      const clash = kit.name("clash")
      yield* failsWith(topology.ensureStream({ name: clash, subjects: [kit.subject("orders", "created")] }), "TopologyConflict")
      assert.deepStrictEqual(yield* ours(kit), [existing])
    }))

  test("an invalid configuration fails with InvalidConfig (or InvalidSubject) and creates nothing", (kit) =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const good = kit.name("good")
      const goodStream: Topology.StreamConfig = { name: good, subjects: [kit.subject("good", ">")] }
      const invalidStreams: ReadonlyArray<Topology.StreamConfig> = [
        { name: `${good}.dotted`, subjects: [kit.subject("a", ">")] },
        { name: kit.name("empty"), subjects: [] },
        { name: kit.name("zero"), subjects: [kit.subject("b", ">")], maxMessages: 0 },
        { name: kit.name("age"), subjects: [kit.subject("c", ">")], maxAge: "0 millis" },
        { name: kit.name("self"), subjects: [kit.subject("d", ">"), kit.subject("d", "x")] }
      ]
      for (const stream of invalidStreams) {
        yield* failsWith(ensure([goodStream, stream]), "InvalidConfig")
        yield* failsWith(topology.ensureStream(stream), "InvalidConfig")
      }
      const badSubject: Topology.StreamConfig = { name: kit.name("subj"), subjects: [`${kit.prefix}..x`] }
      yield* failsWith(ensure([goodStream, badSubject]), "InvalidSubject")
      yield* failsWith(topology.ensureStream(badSubject), "InvalidSubject")
      const invalidConsumers: ReadonlyArray<Topology.ConsumerConfig> = [
        { stream: good, name: "bad name" },
        { stream: good, name: kit.name("wait"), ackWait: "0 millis" },
        { stream: good, name: kit.name("backoff"), backoff: ["1 second", "2 seconds"], maxDeliver: 2 },
        { stream: good, name: kit.name("pending"), maxAckPending: -1 },
        { stream: good, name: kit.name("start"), deliverPolicy: Topology.DeliverPolicy.byStartSequence(0) },
        { stream: good, name: kit.name("dlq"), deadLetterSubject: kit.subject("dlq", "*") }
      ]
      for (const consumer of invalidConsumers) {
        yield* failsWith(ensure([goodStream], [consumer]), "InvalidConfig")
        yield* failsWith(topology.ensureConsumer(consumer), "InvalidConfig")
      }
      assert.deepStrictEqual(yield* ours(kit), [])
    }))

  test("lookups of unknown streams and consumers fail with StreamNotFound and ConsumerNotFound", (kit) =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const missing = kit.name("missing")
      assert.strictEqual(
        (yield* failsWith(topology.ensureConsumer({ stream: missing, name: kit.name("c") }), "StreamNotFound")).stream,
        missing
      )
      yield* failsWith(topology.deleteStream(missing), "StreamNotFound")
      const s = kit.name("orders")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      const reason = yield* failsWith(topology.consumerConfig(s, kit.name("nobody")), "ConsumerNotFound")
      assert.strictEqual(reason.stream, s)
      assert.strictEqual(reason.consumer, kit.name("nobody"))
      yield* failsWith(topology.deleteConsumer(s, kit.name("nobody")), "ConsumerNotFound")
    }))

  test("deleteConsumer and deleteStream remove them", (kit) =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const s = kit.name("orders")
      const c = kit.name("c")
      yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }], [{ stream: s, name: c }])
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "x"), kit.envelope(1))
      yield* topology.deleteConsumer(s, c)
      yield* failsWith(topology.consumerConfig(s, c), "ConsumerNotFound")
      yield* failsWith(kit.fetch(s, c), "ConsumerNotFound")
      assert.strictEqual((yield* info(s)).consumers, 0)
      assert.strictEqual((yield* info(s)).messages, 1)
      yield* topology.deleteStream(s)
      yield* failsWith(info(s), "StreamNotFound")
      assert.deepStrictEqual(yield* ours(kit), [])
      yield* failsWith(log.append(kit.subject("orders", "x"), kit.envelope(2)), "NoStreamForSubject")
      // The name and subjects are free again.
      const again = yield* ensure([{ name: s, subjects: [kit.subject("orders", ">")] }])
      assert.deepStrictEqual(changes(again), [{ kind: "stream", name: s, action: "created" }])
      assert.strictEqual((yield* info(s)).messages, 0)
    }))
}
