/**
 * The correlation index, run on any transport with any store: the store
 * contract (idempotent record, lookup order, forget, bad input), and
 * `Replay.byCorrelation` over an index built by the runner: one flow of 12
 * among 10,000 unrelated messages, rebuilt after its consumer is deleted; a
 * redelivery; a purged message; orphans; messages without Herald's headers.
 */
import { assert, layer } from "@effect/vitest"
import { Fixtures, Wait } from "@herald/testing"
import { MessageIdentity } from "@herald/identity"
import { Envelope, EventLog, Foreign, Topology } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { CorrelationIndex, Replay, ReplayError } from "../src/index.ts"

export interface Harness<S> {
  /** Built once for the suite: the transport (and a database). */
  readonly shared: Layer.Layer<S | EventLog.EventLog | Topology.Topology, unknown>
  /** A fresh, empty index for one test. */
  readonly fresh: () => Layer.Layer<CorrelationIndex.CorrelationIndex, unknown, S>
  /** `CorrelationIndex.kind`. */
  readonly kind: string
  /** Appends at once while seeding the unrelated messages (1 in memory; more on NATS, to pipeline them). */
  readonly appendConcurrency: number
  /** A name unique to the file (streams are per test within it). */
  readonly tag: string
}

type Env = CorrelationIndex.CorrelationIndex | EventLog.EventLog | Topology.Topology | Scope.Scope

const index = Effect.service(CorrelationIndex.CorrelationIndex)

const entry = (n: number, overrides?: Partial<CorrelationIndex.Entry>): CorrelationIndex.Entry => ({
  correlationId: `c-${n % 3}`,
  messageId: `m-${n}`,
  causationId: `m-${n}`,
  type: "test.Entry",
  kind: "event",
  subject: `orders.${n}`,
  stream: "ORDERS",
  sequence: n,
  timestamp: Fixtures.epoch + n,
  ...overrides
})

const refused = <A, E, R>(self: Effect.Effect<A, E, R>, detail: string) =>
  Effect.map(Effect.exit(self), (exit) => {
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    assert.isTrue(ReplayError.isReplayError(error), `expected a ReplayError, got ${String(error)}`)
    assert.strictEqual((error as ReplayError.ReplayError).message, `invalid replay configuration: ${detail}`)
  })

const ids = (messages: ReadonlyArray<EventLog.StoredMessage>) => messages.map((m) => m.envelope.identity.messageId as string)

/**
 * The flow: a root, 3 children, 8 grandchildren (ids 1 to 12), and the order
 * they are appended in (children before parents, branches mixed).
 */
const flowOf = (base: number) => {
  const root = Fixtures.root(base + 1)
  const [a, b, c] = [2, 3, 4].map((n) => Fixtures.derived(root, base + n)) as [
    MessageIdentity.MessageIdentity,
    MessageIdentity.MessageIdentity,
    MessageIdentity.MessageIdentity
  ]
  const g = (parent: MessageIdentity.MessageIdentity, n: number) => Fixtures.derived(parent, base + n)
  const [a1, a2, a3] = [g(a, 5), g(a, 6), g(a, 12)]
  const [b1, b2] = [g(b, 7), g(b, 8)]
  const [c1, c2, c3] = [g(c, 9), g(c, 10), g(c, 11)]
  const appendOrder = [b1, a, root, c2, b, a1, c, a3, c1, a2, c3, b2]
  // Parents before children; among the ready ones, the lowest sequence first.
  const causal = [root, a, b, b1, a1, c, c2, a3, c1, a2, c3, b2]
  return {
    root,
    appendOrder,
    causal: causal.map((i) => i.messageId as string)
  }
}

export const correlationSuite = <S>(name: string, harness: Harness<S>) =>
  layer(harness.shared, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    const test = (title: string, body: () => Effect.Effect<void, unknown, Env>) =>
      it.effect(title, () => Effect.scoped(Effect.provide(body(), harness.fresh())))

    let streams = 0
    const unique = () => {
      const n = ++streams
      return {
        stream: `CORR_${harness.tag}_${n}`,
        prefix: `corr.${harness.tag}.${n}`,
        consumer: `corr-${harness.tag}-${n}`
      }
    }

    // -------------------------------------------------------------------
    // The store contract

    test("kind names the store", () => Effect.map(index, (s) => assert.strictEqual(s.kind, harness.kind)))

    test("record is keyed by (stream, sequence): the same entry twice is recorded once", () =>
      Effect.gen(function*() {
        const s = yield* index
        assert.strictEqual(yield* s.record([entry(1), entry(4)]), 2)
        assert.strictEqual(yield* s.record([entry(1)]), 0)
        // the same key in one call, and a key already there with other values: the first one stays
        assert.strictEqual(yield* s.record([entry(7), entry(7), entry(4, { messageId: "other" })]), 1)
        assert.strictEqual(yield* s.record([]), 0)
        assert.deepStrictEqual(yield* s.lookup("c-1"), [entry(1), entry(4), entry(7)])
      }))

    test("kind: recorded as given; null or absent is read back as null", () =>
      Effect.gen(function*() {
        const s = yield* index
        const { kind: _, ...withoutKind } = entry(3)
        assert.strictEqual(
          yield* s.record([
            entry(1, { kind: "command" }),
            entry(2, { kind: "query" }),
            withoutKind,
            entry(4, { kind: "reply" }),
            entry(5, { kind: null }),
            entry(6)
          ]),
          6
        )
        assert.deepStrictEqual(
          (yield* s.lookup("c-0")).map((e) => [e.sequence, e.kind]),
          [[3, null], [6, "event"]]
        )
        assert.deepStrictEqual(yield* s.lookup("c-1"), [entry(1, { kind: "command" }), entry(4, { kind: "reply" })])
        assert.deepStrictEqual(yield* s.lookup("c-2"), [entry(2, { kind: "query" }), entry(5, { kind: null })])
        yield* refused(
          s.record([entry(7, { kind: "notice" as CorrelationIndex.Entry["kind"] })]),
          "record: entry kind must be one of event, command, query, reply or null, got \"notice\""
        )
        assert.strictEqual((yield* s.lookup("c-1")).length, 2)
      }))

    test("lookup: in (stream, sequence) order, by code point; a stream alone; nothing for an unknown id", () =>
      Effect.gen(function*() {
        const s = yield* index
        const flow = [
          entry(30, { correlationId: "f", stream: "b" }),
          entry(2, { correlationId: "f", stream: "b" }),
          entry(100, { correlationId: "f", stream: "B" }),
          entry(5, { correlationId: "f", stream: "a" }),
          entry(11, { correlationId: "g", stream: "a" })
        ]
        // many rows: more than one statement's worth in SQL
        const many = Array.from({ length: 1200 }, (_, i) => entry(1000 + i, { correlationId: `bulk-${i % 2}` }))
        assert.strictEqual(yield* s.record([...flow, ...many]), 1205)
        assert.deepStrictEqual(
          (yield* s.lookup("f")).map((e) => `${e.stream}:${e.sequence}`),
          ["B:100", "a:5", "b:2", "b:30"]
        )
        assert.deepStrictEqual((yield* s.lookup("f", { stream: "b" })).map((e) => e.sequence), [2, 30])
        assert.deepStrictEqual(yield* s.lookup("nothing"), [])
        assert.strictEqual((yield* s.lookup("bulk-1")).length, 600)
        assert.deepStrictEqual(yield* s.lookup("g"), [flow[4]])
      }))

    test("forget drops one stream's entries and answers how many", () =>
      Effect.gen(function*() {
        const s = yield* index
        yield* s.record([1, 2, 3, 4].map((n) => entry(n)))
        yield* s.record([1, 2].map((n) => entry(n, { stream: "OTHER" })))
        assert.strictEqual(yield* s.forget("ORDERS"), 4)
        assert.strictEqual(yield* s.forget("ORDERS"), 0)
        assert.deepStrictEqual(yield* s.lookup("c-1"), [entry(1, { stream: "OTHER" })])
        // recorded again after forget
        assert.strictEqual(yield* s.record([entry(1)]), 1)
      }))

    test("bad entries and names are refused with InvalidConfig, nothing written", () =>
      Effect.gen(function*() {
        const s = yield* index
        yield* refused(
          s.record([entry(1), entry(2, { sequence: 0 })]),
          "record: entry sequence must be a positive integer, got 0"
        )
        yield* refused(s.record([entry(1, { correlationId: "" })]), "record: entry correlationId must be a non-empty string, got \"\"")
        yield* refused(
          s.record([entry(1, { timestamp: Number.NaN })]),
          "record: entry timestamp must be a finite number, got NaN"
        )
        yield* refused(s.lookup(""), "lookup: correlationId must be a non-empty string, got \"\"")
        yield* refused(s.forget(""), "forget: stream must be a non-empty string, got \"\"")
        assert.deepStrictEqual(yield* s.lookup("c-1"), [])
      }))

    // -------------------------------------------------------------------
    // The runner and byCorrelation

    const ensure = (stream: string, prefix: string, consumer: string, config?: Partial<Topology.StreamConfig>) =>
      Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`], ...config }],
        consumers: [{ stream, name: consumer }]
      })

    const append = (
      subject: string,
      identity: MessageIdentity.MessageIdentity,
      type = "test.Flow",
      kind: Envelope.Kind = "event"
    ) => EventLog.EventLog.use((log) => log.append(subject, Fixtures.envelope({ identity, type, kind })))

    /** Runs the index in a scope of its own until `done` holds of its stats; answers them. */
    const indexUntil = (
      options: CorrelationIndex.RunOptions,
      done: (stats: CorrelationIndex.Stats) => boolean,
      what: string
    ) =>
      Effect.scoped(Effect.gen(function*() {
        const handle = yield* CorrelationIndex.run(options)
        return yield* Wait.whileRunning(handle, Wait.until(handle.stats, done, what, { bound: "60 seconds", interval: "20 millis" }))
      }))

    const noise = 10_000

    test("a flow of 12 among 10,000 unrelated messages: exactly those 12, in causal order; the same after a rebuild", () =>
      Effect.gen(function*() {
        const { consumer, prefix, stream } = unique()
        yield* ensure(stream, prefix, consumer)
        const flow = flowOf(1_000_000)
        const log = yield* EventLog.EventLog
        // 13 blocks of unrelated messages (each a root of its own flow), a flow message between two blocks
        const per = Math.ceil(noise / 13)
        let appended = 0
        for (let i = 0; i <= 12; i++) {
          const count = Math.min(per, noise - appended)
          const start = appended
          yield* Effect.forEach(
            Array.from({ length: count }, (_, k) => start + k + 1),
            (n) => log.append(`${prefix}.noise.${n % 7}`, Fixtures.envelope({ identity: n, type: "test.Noise" })),
            { concurrency: harness.appendConcurrency, discard: true }
          )
          appended += count
          // every kind, in turn
          if (i < 12) yield* append(`${prefix}.flow`, flow.appendOrder[i]!, "test.Flow", Envelope.kinds[i % 4]!)
        }
        assert.strictEqual(appended, noise)
        const total = noise + 12
        assert.strictEqual((yield* log.info(stream)).messages, total)

        const options = { stream, consumer, concurrency: 32 }
        const first = yield* indexUntil(options, (s) => s.recorded === total, "the index to record every message")
        assert.deepStrictEqual([first.recorded, first.duplicates, first.skipped], [total, 0, 0])
        assert.strictEqual(first.consumer.deadLettered, 0)

        const correlationId = flow.root.correlationId as string
        const found = yield* Replay.byCorrelation(correlationId)
        assert.deepStrictEqual(ids(found.messages), flow.causal)
        assert.strictEqual(found.entries.length, 12)
        assert.deepStrictEqual(found.missing, [])
        assert.deepStrictEqual([found.orphans.length, found.cycles.length, found.duplicates.length], [0, 0, 0])
        // every entry points at its message
        const bySequence = new Map(found.messages.map((m) => [m.sequence, m]))
        for (const e of found.entries) {
          const m = bySequence.get(e.sequence)!
          assert.deepStrictEqual(
            [e.messageId, e.causationId, e.type, e.kind, e.subject, e.stream, e.timestamp],
            [m.envelope.identity.messageId, m.envelope.identity.causationId, "test.Flow", m.envelope.kind, `${prefix}.flow`, stream, m.timestamp]
          )
          const appended = flow.appendOrder.findIndex((identity) => identity.messageId === e.messageId)
          assert.strictEqual(e.kind, Envelope.kinds[appended % 4])
        }
        assert.deepStrictEqual(
          Envelope.kinds.map((kind) => found.entries.filter((e) => e.kind === kind).length),
          [3, 3, 3, 3]
        )
        assert.deepStrictEqual(ids((yield* Replay.byCorrelation(correlationId, { stream })).messages), flow.causal)
        assert.deepStrictEqual((yield* Replay.byCorrelation(correlationId, { stream: "ELSEWHERE" })).messages, [])

        // rebuild: the consumer deleted, the index forgotten, the consumer created again
        yield* Topology.Topology.use((t) => t.deleteConsumer(stream, consumer))
        const s = yield* index
        assert.strictEqual(yield* s.forget(stream), total)
        assert.deepStrictEqual((yield* Replay.byCorrelation(correlationId)).messages, [])
        yield* ensure(stream, prefix, consumer)
        const second = yield* indexUntil(options, (st) => st.recorded === total, "the rebuilt index to record every message")
        assert.deepStrictEqual([second.recorded, second.duplicates, second.skipped], [total, 0, 0])
        const again = yield* Replay.byCorrelation(correlationId)
        assert.deepStrictEqual(ids(again.messages), flow.causal)
        assert.deepStrictEqual(again.entries, found.entries)
        assert.deepStrictEqual(again.missing, [])
      }))

    test("a redelivered message does not duplicate its entry", () =>
      Effect.gen(function*() {
        const { consumer, prefix, stream } = unique()
        yield* ensure(stream, prefix, consumer)
        const flow = flowOf(2_000_000)
        for (const identity of flow.appendOrder.slice(0, 4)) yield* append(`${prefix}.flow`, identity)
        const inner = yield* index
        // the first write of sequence 2 lands, then the call fails: the delivery is nak'd and comes back
        let failed = false
        const flaky = CorrelationIndex.CorrelationIndex.of({
          ...inner,
          record: (entries) =>
            Effect.flatMap(inner.record(entries), (n) => {
              if (!failed && entries.some((e) => e.sequence === 2)) {
                failed = true
                return Effect.fail(ReplayError.store("record", new Error("connection lost after the write")))
              }
              return Effect.succeed(n)
            })
        })
        const stats = yield* indexUntil(
          { stream, consumer, nakDelay: () => "10 millis" },
          (s) => s.recorded + s.duplicates === 4,
          "the redelivery to be recorded"
        ).pipe(Effect.provideService(CorrelationIndex.CorrelationIndex, flaky))
        // sequences 1, 3, 4 recorded; 2 written by the failed call, a duplicate when it came back
        assert.deepStrictEqual([stats.recorded, stats.duplicates, stats.consumer.naked], [3, 1, 1])
        assert.strictEqual((yield* inner.lookup(flow.root.correlationId)).length, 4)
        // a second consumer over the same stream and index records nothing new
        yield* Topology.ensure({ consumers: [{ stream, name: `${consumer}-2` }] })
        const other = yield* indexUntil({ stream, consumer: `${consumer}-2` }, (s) => s.duplicates === 4, "the copies")
        assert.deepStrictEqual([other.recorded, other.duplicates], [0, 4])
        assert.deepStrictEqual((yield* inner.lookup(flow.root.correlationId)).map((e) => e.sequence), [1, 2, 3, 4])
      }))

    test("a message purged from the stream is reported missing; the rest still ordered", () =>
      Effect.gen(function*() {
        const { consumer, prefix, stream } = unique()
        yield* ensure(stream, prefix, consumer, { maxMessagesPerSubject: 1 })
        const flow = flowOf(3_000_000)
        // one subject per message, so that each is replaced on its own
        for (const [i, identity] of flow.appendOrder.entries()) yield* append(`${prefix}.flow.${i}`, identity)
        yield* indexUntil({ stream, consumer }, (s) => s.recorded === 12, "the flow to be indexed")
        // b1 (sequence 1) and c2 (sequence 4) are replaced by unrelated messages on their subjects
        yield* append(`${prefix}.flow.0`, Fixtures.root(3_000_100), "test.Other")
        yield* append(`${prefix}.flow.3`, Fixtures.root(3_000_101), "test.Other")
        const found = yield* Replay.byCorrelation(flow.root.correlationId)
        assert.deepStrictEqual(found.missing.map((e) => [e.sequence, e.messageId]), [
          [1, flow.appendOrder[0]!.messageId],
          [4, flow.appendOrder[3]!.messageId]
        ])
        assert.strictEqual(found.entries.length, 12)
        const gone = new Set([flow.appendOrder[0]!.messageId as string, flow.appendOrder[3]!.messageId as string])
        assert.deepStrictEqual(ids(found.messages), flow.causal.filter((id) => !gone.has(id)))
        assert.deepStrictEqual(found.orphans, [])
      }))

    test("orphans: messages whose cause is not in the flow are reported and placed as roots", () =>
      Effect.gen(function*() {
        const { consumer, prefix, stream } = unique()
        yield* ensure(stream, prefix, consumer)
        const root = Fixtures.root(4_000_001)
        const never = Fixtures.derived(root, 4_000_002) // never appended
        const x = Fixtures.derived(never, 4_000_003)
        const y = Fixtures.derived(never, 4_000_004)
        const x1 = Fixtures.derived(x, 4_000_005)
        const r1 = Fixtures.derived(root, 4_000_006)
        for (const identity of [x1, y, root, x, r1]) yield* append(`${prefix}.flow`, identity)
        yield* indexUntil({ stream, consumer }, (s) => s.recorded === 5, "the flow to be indexed")
        const found = yield* Replay.byCorrelation(root.correlationId)
        // ready at first: y (2), root (3), x (4); then r1 (5) and x1 (1) as their parents are placed
        assert.deepStrictEqual(ids(found.messages), [y, root, x, x1, r1].map((i) => i.messageId as string))
        assert.deepStrictEqual(ids(found.orphans), [y, x].map((i) => i.messageId as string))
        assert.deepStrictEqual([found.missing.length, found.cycles.length], [0, 0])
      }))

    test("messages without Herald's headers: skipped and acked by default; indexed with foreign", () =>
      Effect.gen(function*() {
        const { consumer, prefix, stream } = unique()
        yield* ensure(stream, prefix, consumer)
        yield* Topology.ensure({ consumers: [{ stream, name: `${consumer}-foreign` }] })
        const log = yield* EventLog.EventLog
        const root = Fixtures.root(5_000_001)
        yield* append(`${prefix}.flow`, root)
        const body = Fixtures.jsonBody({ external: true })
        yield* log.appendRaw(`${prefix}.external`, { headers: { "Nats-Msg-Id": "ext-1" }, body })
        yield* log.appendRaw(`${prefix}.external`, { headers: { "Nats-Msg-Id": "ext-2" }, body })
        const child = Fixtures.derived(root, 5_000_002)
        yield* append(`${prefix}.flow`, child)
        const plain = yield* indexUntil(
          { stream, consumer },
          (s) => s.recorded + s.skipped === 4 && s.consumer.acked === 4,
          "the messages acked"
        )
        assert.deepStrictEqual(
          [plain.recorded, plain.skipped, plain.consumer.deadLettered, plain.consumer.acked],
          [2, 2, 0, 4]
        )
        assert.deepStrictEqual(yield* Effect.flatMap(index, (s) => s.lookup("ext-1")), [])
        // the flow's messages are read together (sequences 1 to 4); the foreign ones between are not decoded
        const herald = yield* Replay.byCorrelation(root.correlationId)
        assert.deepStrictEqual(ids(herald.messages), [root.messageId, child.messageId].map(String))
        assert.deepStrictEqual(herald.messages.map((m) => m.sequence), [1, 4])

        const foreign = yield* indexUntil(
          { stream, consumer: `${consumer}-foreign`, foreign: {} },
          (s) => s.recorded + s.duplicates === 4,
          "the messages, foreign ones too"
        )
        assert.deepStrictEqual([foreign.recorded, foreign.duplicates, foreign.skipped], [2, 2, 0])
        // the kind of a message without Herald's headers is not known
        assert.deepStrictEqual(
          (yield* Effect.flatMap(index, (s) => s.lookup("ext-1"))).map((e) => [e.messageId, e.kind]),
          [["ext-1", null]]
        )
        assert.deepStrictEqual(
          (yield* Effect.flatMap(index, (s) => s.lookup(root.correlationId))).map((e) => e.kind),
          ["event", "event"]
        )
        const external = yield* Replay.byCorrelation("ext-1", { foreign: {} })
        assert.deepStrictEqual(ids(external.messages), ["ext-1"])
        assert.deepStrictEqual([external.messages[0]!.sequence, external.messages[0]!.envelope.type], [2, `${prefix}.external`])
        // without foreign, a foreign message does not decode, as in EventLog.read
        const exit = yield* Effect.exit(Replay.byCorrelation("ext-2"))
        assert.isTrue(Exit.isFailure(exit))
      }))

    test("foreign messages with a header profile join the Herald flow they name", () =>
      Effect.gen(function*() {
        const { consumer, prefix, stream } = unique()
        yield* ensure(stream, prefix, consumer)
        const log = yield* EventLog.EventLog
        const root = Fixtures.root(6_000_001)
        const child = Fixtures.derived(root, 6_000_002)
        // a service speaking the X-* convention answers the root; Herald answers it in turn
        const reply = { id: "ext-reply-1", correlation: root.correlationId as string, cause: root.messageId as string }
        yield* log.appendRaw(`${prefix}.external`, {
          headers: {
            "Nats-Msg-Id": reply.id,
            [Foreign.CimHeaders.messageId]: reply.id,
            [Foreign.CimHeaders.correlationId]: reply.correlation,
            [Foreign.CimHeaders.causationId]: reply.cause,
            [Foreign.CimHeaders.eventType]: "external.Replied"
          },
          body: Fixtures.jsonBody({})
        })
        const afterReply = MessageIdentity.make({
          messageId: Fixtures.id(6_000_003),
          correlationId: root.correlationId,
          causationId: reply.id
        })
        yield* append(`${prefix}.flow`, Result.getOrThrow(afterReply))
        yield* append(`${prefix}.flow`, child)
        yield* append(`${prefix}.flow`, root)
        const foreign = Foreign.accept(undefined, Foreign.cim)
        const stats = yield* indexUntil({ stream, consumer, foreign }, (st) => st.recorded === 4, "the flow")
        assert.deepStrictEqual([stats.recorded, stats.skipped], [4, 0])
        const found = yield* Replay.byCorrelation(root.correlationId, { foreign })
        assert.deepStrictEqual(ids(found.messages), [root.messageId, reply.id, Fixtures.id(6_000_003), child.messageId].map(String))
        assert.deepStrictEqual(found.messages.map((m) => m.envelope.type), ["test.Flow", "external.Replied", "test.Flow", "test.Flow"])
        assert.deepStrictEqual([found.orphans.length, found.missing.length], [0, 0])
      }))

    test("layer runs the index for the lifetime of the layer", () =>
      Effect.gen(function*() {
        const { consumer, prefix, stream } = unique()
        yield* ensure(stream, prefix, consumer)
        const root = Fixtures.root(7_000_001)
        yield* append(`${prefix}.flow`, root)
        yield* append(`${prefix}.flow`, Fixtures.derived(root, 7_000_002))
        const s = yield* index
        yield* Effect.scoped(Effect.gen(function*() {
          yield* Layer.build(CorrelationIndex.layer({ stream, consumer }))
          yield* Wait.until(s.lookup(root.correlationId), (found) => found.length === 2, "the layer to index the flow")
        }))
        assert.deepStrictEqual(
          (yield* Replay.byCorrelation(root.correlationId)).messages.map((m) => m.sequence),
          [1, 2]
        )
      }))

    test("run refuses bad options with InvalidConfig", () =>
      Effect.gen(function*() {
        yield* refused(CorrelationIndex.run({ stream: "", consumer: "c" }), "stream must be a non-empty string")
        yield* refused(CorrelationIndex.run({ stream: "S", consumer: "" }), "consumer must be a non-empty string")
        yield* refused(
          CorrelationIndex.run({ stream: "S", consumer: "c", concurrency: 0 }),
          "concurrency must be a positive integer, got 0"
        )
        yield* refused(Replay.byCorrelation("x", { concurrency: 1.5 }), "concurrency must be a positive integer, got 1.5")
      }))
  })
