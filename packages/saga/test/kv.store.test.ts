/**
 * The NATS KV saga store against a real nats-server.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { NatsServer } from "@herald/testing"
import { Envelope, EventLog, Topology, Wire } from "@herald/transport"
import { NatsConnection, NatsTransport } from "@herald/transport-nats"
import { assert, describe, it, layer } from "@effect/vitest"
import { Kvm } from "@nats-io/kv"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { SagaStore } from "../src/index.ts"
import { SagaKv } from "../src/kv.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "saga-kv-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

const encoder = new TextEncoder()

/** Envelope number `n`: id `IdGenerator.testId(n)`. */
const envelope = (n: number, type = "test.Sent", headers: Record<string, string> = {}): Envelope.Envelope =>
  Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(n)),
    type,
    kind: "command",
    occurredAt: 1_700_000_000_000 + n,
    body: encoder.encode(JSON.stringify({ n })),
    headers
  })

const idOf = (n: number): string => IdGenerator.testId(n)

const trigger = (n: number): SagaStore.Trigger => ({
  messageId: idOf(n),
  type: "test.Trigger",
  subject: "orders.placed",
  stream: "ORDERS",
  streamSequence: n
})

const timeout = (saga: string, id: string, n: number, name: string, dueAt: number): SagaStore.Timeout => {
  const raw = Wire.encode(envelope(n, "test.Timeout"))
  if (raw._tag === "Failure") throw raw.failure
  return { saga, id, token: idOf(n), name, dueAt, message: raw.success }
}

const commit = (overrides: Partial<SagaStore.Commit> & { readonly trigger: SagaStore.Trigger }): SagaStore.Commit => ({
  saga: "order",
  id: "o-1",
  expectedVersion: 0,
  status: "running",
  state: { step: 1 },
  failure: undefined,
  now: 1_000,
  outgoing: [],
  cancel: [],
  schedule: [],
  fired: undefined,
  ...overrides
})

let counter = 0
const names = () => {
  const n = `${++counter}_${Math.random().toString(36).slice(2, 7)}`
  return { bucket: `saga_kv_${n}`, stream: `SAGA_${n}`.toUpperCase(), subject: `saga${n.replace(/_/g, "")}` }
}

const openKv = (bucket: string) =>
  Effect.flatMap(NatsConnection.NatsConnection, (c) => Effect.promise(() => new Kvm(c.jetstream).open(bucket)))

const live = (bucket: string, key: string) =>
  Effect.flatMap(openKv(bucket), (kv) =>
    Effect.promise(async () => {
      const entry = await kv.get(key)
      return entry !== null && entry.operation === "PUT"
    }))

/** The `Nats-Msg-Id`s stored in a stream, in sequence order. */
const storedIds = (stream: string) =>
  Effect.flatMap(EventLog.EventLog, (log) =>
    Stream.runCollect(log.readRaw(stream)).pipe(
      Effect.map((messages) => Array.from(messages, (m) => m.raw.headers[Wire.HeaderNames.natsMsgId]))
    ))

describe("SagaKv keys", () => {
  it("keyToken keeps letters, digits, '_' and '-', escapes every other byte; keys are valid and distinct", () => {
    assert.strictEqual(SagaKv.keyToken("order-v2_x"), "order-v2_x")
    assert.strictEqual(SagaKv.keyToken("a.b*c>d e=f/"), "a=2Eb=2Ac=3Ed=20e=3Df=2F")
    assert.strictEqual(SagaKv.keyToken("é"), "=C3=A9")
    assert.strictEqual(SagaKv.keyToken(""), "=")
    assert.notStrictEqual(SagaKv.keys.instance("a.b", "c"), SagaKv.keys.instance("a", "b.c"))
    assert.strictEqual(SagaKv.keys.instance("order", "o.1"), "i.order.o=2E1")
    assert.strictEqual(SagaKv.keys.history("order", "o-1", 7), "h.order.o-1.000000000007")
    assert.strictEqual(SagaKv.keys.processed("order", "m 1"), "p.order.m=201")
    assert.strictEqual(SagaKv.keys.timeout("order", "t"), "t.order.t")
    assert.strictEqual(SagaKv.keys.outgoing("order", "o-1", 3), "o.order.o-1.000000000003")
  })
})

layer(Nats, { excludeTestServices: true, timeout: "60 seconds" })("SagaKv on nats-server", (it) => {
  it.effect("make: creates the bucket (history 1); bad options are InvalidConfig", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket })
      assert.strictEqual(store.kind, "kv")
      const status = yield* Effect.flatMap(openKv(bucket), (kv) => Effect.promise(() => kv.status()))
      assert.strictEqual(status.history, 1)
      assert.strictEqual(status.ttl, 0)
      for (
        const bad of [
          { bucket: "no.dots" },
          { bucket, processedLimit: 0 },
          { bucket, processedLimit: 1.5 },
          { bucket, grace: "-1 seconds" },
          { bucket, replicas: 0 },
          { bucket, storage: "disk" as "file" }
        ] satisfies ReadonlyArray<SagaKv.Options>
      ) {
        const error = yield* Effect.flip(SagaKv.make(bad))
        assert.strictEqual(error.reason._tag, "InvalidConfig", JSON.stringify(bad))
      }
    }))

  it.effect("a new instance is version 1; an update is version 2; the history keeps both; processed answers by saga", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket })
      assert.isTrue(Option.isNone(yield* store.load("order", "o-1")))
      assert.deepStrictEqual(yield* store.history("order", "o-1"), [])
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1), now: 1_000 })), "committed")
      assert.deepStrictEqual(yield* store.load("order", "o-1"), Option.some({
        saga: "order",
        id: "o-1",
        status: "running",
        state: { step: 1 },
        version: 1,
        createdAt: 1_000,
        updatedAt: 1_000,
        failure: undefined
      } satisfies SagaStore.Instance))
      assert.isTrue(yield* store.processed("order", idOf(1)))
      assert.isFalse(yield* store.processed("order", idOf(2)))
      assert.isFalse(yield* store.processed("other", idOf(1)))

      assert.strictEqual(
        yield* store.commit(
          commit({
            trigger: { ...trigger(2), stream: undefined, streamSequence: undefined },
            expectedVersion: 1,
            status: "compensation-failed",
            state: { step: 2 },
            failure: "refund failed",
            now: 2_000
          })
        ),
        "committed"
      )
      assert.deepStrictEqual(yield* store.load("order", "o-1"), Option.some({
        saga: "order",
        id: "o-1",
        status: "compensation-failed",
        state: { step: 2 },
        version: 2,
        createdAt: 1_000,
        updatedAt: 2_000,
        failure: "refund failed"
      } satisfies SagaStore.Instance))
      const history = yield* store.history("order", "o-1")
      assert.deepStrictEqual(history, [
        {
          saga: "order",
          id: "o-1",
          version: 1,
          trigger: trigger(1),
          status: "running",
          outgoing: [],
          scheduled: [],
          cancelled: [],
          at: 1_000
        },
        {
          saga: "order",
          id: "o-1",
          version: 2,
          trigger: { ...trigger(2), stream: undefined, streamSequence: undefined },
          status: "compensation-failed",
          outgoing: [],
          scheduled: [],
          cancelled: [],
          at: 2_000
        }
      ])
      // The newest entry lives in the document; the previous one has its key.
      assert.isTrue(yield* live(bucket, SagaKv.keys.history("order", "o-1", 1)))
      assert.isFalse(yield* live(bucket, SagaKv.keys.history("order", "o-1", 2)))
    }))

  it.effect("conflict when the version moved (nothing written); duplicate when the trigger was processed", () =>
    Effect.gen(function*() {
      const store = yield* SagaKv.make({ bucket: names().bucket })
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1) })), "committed")
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(2), expectedVersion: 1 })), "committed")
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(3), expectedVersion: 1, state: "x" })), "conflict")
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(3), expectedVersion: 0, state: "x" })), "conflict")
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(3), expectedVersion: 5, state: "x" })), "conflict")
      assert.isFalse(yield* store.processed("order", idOf(3)))
      // Processed before: duplicate, whatever the version.
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1), expectedVersion: 2 })), "duplicate")
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(2), expectedVersion: 0 })), "duplicate")
      const loaded = yield* store.load("order", "o-1")
      assert.strictEqual(Option.getOrThrow(loaded).version, 2)
      assert.deepStrictEqual(Option.getOrThrow(loaded).state, { step: 1 })
      assert.deepStrictEqual((yield* store.history("order", "o-1")).map((h) => h.version), [1, 2])
      // A trigger processed by another instance of the saga is a duplicate too (the processed key).
      assert.strictEqual(yield* store.commit(commit({ id: "o-2", trigger: trigger(1) })), "duplicate")
      assert.isTrue(Option.isNone(yield* store.load("order", "o-2")))
    }))

  it.effect("20 concurrent commits on the same expected version: exactly one commits, the others conflict", () =>
    Effect.gen(function*() {
      const store = yield* SagaKv.make({ bucket: names().bucket })
      const race = (expectedVersion: number, base: number) =>
        Effect.all(
          Array.from({ length: 20 }, (_, i) =>
            store.commit(commit({ trigger: trigger(base + i), expectedVersion, state: { winner: base + i } }))),
          { concurrency: "unbounded" }
        )
      const first = yield* race(0, 100)
      assert.strictEqual(first.filter((r) => r === "committed").length, 1)
      assert.strictEqual(first.filter((r) => r === "conflict").length, 19)
      const second = yield* race(1, 200)
      assert.strictEqual(second.filter((r) => r === "committed").length, 1)
      assert.strictEqual(second.filter((r) => r === "conflict").length, 19)
      const instance = Option.getOrThrow(yield* store.load("order", "o-1"))
      assert.strictEqual(instance.version, 2)
      const winners = [100 + first.indexOf("committed"), 200 + second.indexOf("committed")]
      assert.deepStrictEqual(instance.state, { winner: winners[1] })
      assert.deepStrictEqual(
        (yield* store.history("order", "o-1")).map((h) => h.trigger.messageId),
        winners.map(idOf)
      )
      let processed = 0
      for (let i = 0; i < 20; i++) {
        if (yield* store.processed("order", idOf(100 + i))) processed++
        if (yield* store.processed("order", idOf(200 + i))) processed++
      }
      assert.strictEqual(processed, 2)
    }))

  it.effect("the same trigger committed 20 times at once, on one instance or on twenty: one commits, 19 are duplicates", () =>
    Effect.gen(function*() {
      const store = yield* SagaKv.make({ bucket: names().bucket })
      const results = yield* Effect.all(
        Array.from({ length: 20 }, () => store.commit(commit({ trigger: trigger(1) }))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter((r) => r === "committed").length, 1)
      assert.strictEqual(results.filter((r) => r === "duplicate").length, 19)
      assert.strictEqual(Option.getOrThrow(yield* store.load("order", "o-1")).version, 1)
      assert.strictEqual((yield* store.history("order", "o-1")).length, 1)
      const spread = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => store.commit(commit({ id: `s-${i}`, trigger: trigger(2) }))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(spread.filter((r) => r === "committed").length, 1)
      assert.strictEqual(spread.filter((r) => r === "duplicate").length, 19)
      assert.deepStrictEqual((yield* store.list()).map((i) => i.id), ["o-1", `s-${spread.indexOf("committed")}`])
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1) })), "duplicate")
    }))

  it.effect("a claim of a trigger left by another commit: applied is a duplicate, lost or expired is taken over, in flight is a conflict", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket })
      const eager = yield* SagaKv.make({ bucket, grace: "0 millis" })
      const kv = yield* openKv(bucket)
      const claim = (n: number, id: string, after: number) =>
        Effect.promise(() =>
          kv.put(
            SagaKv.keys.processed("order", idOf(n)),
            JSON.stringify({ state: "claimed", id, version: 1, after, at: Date.now() })
          )
        )
      assert.strictEqual(yield* store.commit(commit({ id: "a", trigger: trigger(1) })), "committed")
      const revision = (yield* Effect.promise(() => kv.get(SagaKv.keys.instance("order", "a"))))!.revision
      // Applied: the claimed instance's document lists the trigger (its commit crashed before marking it done).
      yield* claim(1, "a", 0)
      assert.isTrue(yield* store.processed("order", idOf(1)))
      assert.strictEqual(yield* store.commit(commit({ id: "b", trigger: trigger(1) })), "duplicate")
      // Lost: the claimed instance's document moved past the revision its commit read.
      yield* claim(2, "a", revision - 1)
      assert.isFalse(yield* store.processed("order", idOf(2)))
      assert.strictEqual(yield* store.commit(commit({ id: "a", trigger: trigger(2), expectedVersion: 1 })), "committed")
      assert.isTrue(yield* store.processed("order", idOf(2)))
      // In flight: a new instance not created yet, within the grace: answered as a conflict (retryable).
      yield* claim(3, "c", 0)
      assert.isFalse(yield* store.processed("order", idOf(3)))
      assert.strictEqual(yield* store.commit(commit({ id: "c", trigger: trigger(3) })), "conflict")
      assert.isTrue(Option.isNone(yield* store.load("order", "c")))
      // Past the grace, the claim is taken over.
      assert.strictEqual(yield* eager.commit(commit({ id: "c", trigger: trigger(3) })), "committed")
      assert.isTrue(yield* store.processed("order", idOf(3)))
    }))

  it.effect("timeouts: schedule, replace by name, cancel, fire (must still exist), due in dueAt order", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket })
      const remind = timeout("order", "o-1", 11, "remind", 5_000)
      const expire = timeout("order", "o-1", 12, "expire", 3_000)
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(1), schedule: [remind, expire] })),
        "committed"
      )
      assert.deepStrictEqual(yield* store.timeouts("order", "o-1"), [expire, remind])
      assert.deepStrictEqual(yield* store.due(2_999, 10), [])
      assert.deepStrictEqual(yield* store.due(3_000, 10), [expire])
      assert.deepStrictEqual(yield* store.due(10_000, 10), [expire, remind])
      assert.deepStrictEqual(yield* store.due(10_000, 1), [expire])
      assert.deepStrictEqual(yield* store.due(10_000, 10, "order"), [expire, remind])
      assert.deepStrictEqual(yield* store.due(10_000, 10, "other"), [])

      // Scheduling a pending name replaces it.
      const remind2 = timeout("order", "o-1", 13, "remind", 4_000)
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(2), expectedVersion: 1, schedule: [remind2] })),
        "committed"
      )
      assert.deepStrictEqual(yield* store.timeouts("order", "o-1"), [expire, remind2])
      assert.deepStrictEqual(yield* store.due(10_000, 10), [expire, remind2])
      // The replaced timeout's index entry is removed after the commit.
      assert.isFalse(yield* live(bucket, SagaKv.keys.timeout("order", remind.token)))

      // Firing a timeout that is not pending: conflict, nothing written.
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(3), expectedVersion: 2, fired: remind.token })),
        "conflict"
      )
      assert.strictEqual(Option.getOrThrow(yield* store.load("order", "o-1")).version, 2)

      // Firing a pending one deletes it; cancel deletes by name.
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(4), expectedVersion: 2, fired: expire.token })),
        "committed"
      )
      assert.deepStrictEqual(yield* store.timeouts("order", "o-1"), [remind2])
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(5), expectedVersion: 3, cancel: ["remind"] })),
        "committed"
      )
      assert.deepStrictEqual(yield* store.timeouts("order", "o-1"), [])
      assert.deepStrictEqual(yield* store.due(10_000, 10), [])
      const history = yield* store.history("order", "o-1")
      assert.deepStrictEqual(history.map((h) => [h.version, h.scheduled, h.cancelled]), [
        [1, [{ name: "remind", token: remind.token, dueAt: 5_000 }, { name: "expire", token: expire.token, dueAt: 3_000 }], []],
        [2, [{ name: "remind", token: remind2.token, dueAt: 4_000 }], []],
        [3, [], []],
        [4, [], ["remind"]]
      ])
      assert.deepStrictEqual(yield* store.due(10_000, 0), [])
      const bad = yield* Effect.flip(store.due(0, -1))
      assert.strictEqual(bad.reason._tag, "InvalidConfig")
    }))

  it.effect("due never answers a timeout missing from its document; left-over index entries are removed once settled", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const patient = yield* SagaKv.make({ bucket })
      const eager = yield* SagaKv.make({ bucket, grace: "0 millis" })
      const kept = timeout("order", "o-1", 20, "kept", 2_000)
      assert.strictEqual(yield* patient.commit(commit({ trigger: trigger(1), schedule: [kept] })), "committed")
      const kv = yield* openKv(bucket)
      const revision = (yield* Effect.promise(() => kv.get(SagaKv.keys.instance("order", "o-1"))))!.revision
      const index = (n: number, id: string, after: number) =>
        Effect.promise(() =>
          kv.put(
            SagaKv.keys.timeout("order", idOf(n)),
            JSON.stringify({ saga: "order", id, token: idOf(n), dueAt: 1_000, at: Date.now(), after })
          )
        )
      // What commits leave: one that lost to a commit landed since (the
      // document moved past the revision it read), one still in flight (or
      // crashed) on the current revision, one whose instance was never created.
      yield* index(21, "o-1", revision - 1)
      yield* index(22, "o-1", revision)
      yield* index(23, "o-9", 0)
      assert.deepStrictEqual(yield* patient.due(10_000, 10), [kept])
      assert.isFalse(yield* live(bucket, SagaKv.keys.timeout("order", idOf(21))))
      assert.isTrue(yield* live(bucket, SagaKv.keys.timeout("order", idOf(22))))
      assert.isTrue(yield* live(bucket, SagaKv.keys.timeout("order", idOf(23))))
      // After the grace, the others go too; the live timeout's entry stays.
      assert.deepStrictEqual(yield* eager.due(10_000, 10), [kept])
      assert.isFalse(yield* live(bucket, SagaKv.keys.timeout("order", idOf(22))))
      assert.isFalse(yield* live(bucket, SagaKv.keys.timeout("order", idOf(23))))
      assert.isTrue(yield* live(bucket, SagaKv.keys.timeout("order", kept.token)))
      assert.deepStrictEqual(yield* eager.due(10_000, 10), [kept])
    }))

  it.effect("list: by saga and status, in updatedAt order, limited", () =>
    Effect.gen(function*() {
      const store = yield* SagaKv.make({ bucket: names().bucket })
      yield* store.commit(commit({ id: "a", trigger: trigger(1), now: 3_000 }))
      yield* store.commit(commit({ id: "b", trigger: trigger(2), now: 1_000, status: "completed" }))
      yield* store.commit(commit({ id: "c", trigger: trigger(3), now: 2_000 }))
      yield* store.commit(commit({ saga: "shipping", id: "a", trigger: trigger(4), now: 500 }))
      const ids = (instances: ReadonlyArray<SagaStore.Instance>) => instances.map((i) => `${i.saga}/${i.id}`)
      assert.deepStrictEqual(ids(yield* store.list()), ["shipping/a", "order/b", "order/c", "order/a"])
      assert.deepStrictEqual(ids(yield* store.list({ saga: "order" })), ["order/b", "order/c", "order/a"])
      assert.deepStrictEqual(ids(yield* store.list({ status: "running" })), ["shipping/a", "order/c", "order/a"])
      assert.deepStrictEqual(ids(yield* store.list({ saga: "order", status: "completed" })), ["order/b"])
      assert.deepStrictEqual(ids(yield* store.list({ limit: 2 })), ["shipping/a", "order/b"])
      assert.deepStrictEqual(yield* store.list({ limit: 0 }), [])
      assert.strictEqual((yield* Effect.flip(store.list({ limit: 1.5 }))).reason._tag, "InvalidConfig")
      // The same updatedAt: by id.
      yield* store.commit(commit({ id: "z", trigger: trigger(5), now: 4_000 }))
      yield* store.commit(commit({ id: "y", trigger: trigger(6), now: 4_000 }))
      assert.deepStrictEqual(ids(yield* store.list({ saga: "order" })), ["order/b", "order/c", "order/a", "order/y", "order/z"])
    }))

  it.effect("deleteFinished: finished instances updated before the cutoff, with their history, timeouts and processed keys", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket })
      yield* store.commit(commit({ id: "done-old", trigger: trigger(1), now: 1_000 }))
      yield* store.commit(
        commit({
          id: "done-old",
          trigger: trigger(2),
          expectedVersion: 1,
          now: 1_500,
          status: "compensated",
          schedule: [timeout("order", "done-old", 31, "late", 9_000)]
        })
      )
      yield* store.commit(commit({ id: "done-new", trigger: trigger(3), now: 5_000, status: "completed" }))
      yield* store.commit(commit({ id: "running-old", trigger: trigger(4), now: 1_000 }))
      assert.strictEqual(yield* store.deleteFinished(2_000), 1)
      assert.isTrue(Option.isNone(yield* store.load("order", "done-old")))
      assert.deepStrictEqual(yield* store.history("order", "done-old"), [])
      assert.deepStrictEqual(yield* store.timeouts("order", "done-old"), [])
      assert.deepStrictEqual(yield* store.due(10_000, 10), [])
      assert.isFalse(yield* live(bucket, SagaKv.keys.history("order", "done-old", 1)))
      assert.isFalse(yield* live(bucket, SagaKv.keys.timeout("order", idOf(31))))
      assert.deepStrictEqual((yield* store.list()).map((i) => i.id), ["running-old", "done-new"])
      // Its processed messages are forgotten with it (retention: keep finished instances long enough).
      assert.isFalse(yield* store.processed("order", idOf(1)))
      assert.strictEqual(yield* store.deleteFinished(2_000), 0)
      assert.strictEqual(yield* store.deleteFinished(10_000), 1)
      assert.deepStrictEqual((yield* store.list()).map((i) => i.id), ["running-old"])
      // A new instance with a deleted one's id starts a fresh history.
      assert.strictEqual(yield* store.commit(commit({ id: "done-old", trigger: trigger(5), now: 20_000 })), "committed")
      assert.deepStrictEqual((yield* store.history("order", "done-old")).map((h) => [h.version, h.trigger.messageId]), [
        [1, idOf(5)]
      ])
    }))

  it.effect("outgoing messages: appended by flush exactly once, in commit order across instances, with their message ids", () =>
    Effect.gen(function*() {
      const t = names()
      yield* Topology.ensure({ streams: [{ name: t.stream, subjects: [`${t.subject}.>`] }] })
      const store = yield* SagaKv.make({ bucket: t.bucket })
      const out = (n: number) => ({ subject: `${t.subject}.cmd`, envelope: envelope(n) })
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1), outgoing: [out(41), out(42)] })), "committed")
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(2), expectedVersion: 1, outgoing: [out(43)] })),
        "committed"
      )
      assert.strictEqual(
        yield* store.commit(commit({ id: "o-2", trigger: trigger(3), outgoing: [out(51)] })),
        "committed"
      )
      // A losing commit's messages are never sent.
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(4), expectedVersion: 1, outgoing: [out(99)] })),
        "conflict"
      )
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(5), expectedVersion: 2, outgoing: [out(44), out(45)] })),
        "committed"
      )
      assert.deepStrictEqual(yield* storedIds(t.stream), [])
      assert.strictEqual(yield* store.flush, 6)
      const expected = [41, 42, 43, 51, 44, 45].map(idOf)
      assert.deepStrictEqual(yield* storedIds(t.stream), expected)
      assert.strictEqual(yield* store.flush, 0)
      assert.deepStrictEqual(yield* storedIds(t.stream), expected)
      // The history records what was sent.
      assert.deepStrictEqual((yield* store.history("order", "o-1"))[0]!.outgoing, [
        { messageId: idOf(41), type: "test.Sent", subject: `${t.subject}.cmd` },
        { messageId: idOf(42), type: "test.Sent", subject: `${t.subject}.cmd` }
      ])
      // A flush removes the `o.` key of each transition it delivered.
      for (const [id, version] of [["o-1", 1], ["o-1", 2], ["o-1", 3], ["o-2", 1]] as const) {
        assert.isFalse(yield* live(t.bucket, SagaKv.keys.outgoing("order", id, version)))
      }
    }))

  it.effect("flush keeps an `o.` key whose commit may still land until the grace; one whose commit is settled goes", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const patient = yield* SagaKv.make({ bucket })
      const eager = yield* SagaKv.make({ bucket, grace: "0 millis" })
      assert.strictEqual(yield* patient.commit(commit({ id: "a", trigger: trigger(1) })), "committed")
      assert.strictEqual(yield* patient.commit(commit({ id: "b", trigger: trigger(2) })), "committed")
      const kv = yield* openKv(bucket)
      const revisionOf = (id: string) =>
        Effect.map(Effect.promise(() => kv.get(SagaKv.keys.instance("order", id))), (e) => e!.revision)
      const marker = (id: string, after: number) =>
        Effect.promise(() =>
          kv.put(
            SagaKv.keys.outgoing("order", id, 2),
            JSON.stringify({ saga: "order", id, version: 2, at: Date.now(), after })
          )
        )
      // "a": written by a commit that read the current revision (in flight);
      // "b": by one that read an older revision (it lost); "c": no instance yet.
      yield* marker("a", yield* revisionOf("a"))
      yield* marker("b", (yield* revisionOf("b")) - 1)
      yield* marker("c", 0)
      assert.strictEqual(yield* patient.flush, 0)
      assert.isTrue(yield* live(bucket, SagaKv.keys.outgoing("order", "a", 2)))
      assert.isFalse(yield* live(bucket, SagaKv.keys.outgoing("order", "b", 2)))
      assert.isTrue(yield* live(bucket, SagaKv.keys.outgoing("order", "c", 2)))
      assert.strictEqual(yield* eager.flush, 0)
      assert.isFalse(yield* live(bucket, SagaKv.keys.outgoing("order", "a", 2)))
      assert.isFalse(yield* live(bucket, SagaKv.keys.outgoing("order", "c", 2)))
    }))

  it.effect("a flush that fails midway delivers everything later, each message once; other instances are not held up", () =>
    Effect.gen(function*() {
      const a = names()
      const b = names()
      yield* Topology.ensure({ streams: [{ name: a.stream, subjects: [`${a.subject}.>`] }] })
      const store = yield* SagaKv.make({ bucket: a.bucket })
      const on = (subject: string, n: number) => ({ subject: `${subject}.cmd`, envelope: envelope(n) })
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(1), outgoing: [on(a.subject, 61), on(b.subject, 62), on(a.subject, 63)] })),
        "committed"
      )
      assert.strictEqual(yield* store.commit(commit({ id: "o-2", trigger: trigger(2), outgoing: [on(a.subject, 64)] })), "committed")
      // No stream stores b's subject yet.
      const failed = yield* Effect.flip(store.flush)
      assert.strictEqual(failed.reason._tag, "StoreError")
      assert.isTrue(failed.isRetryable)
      assert.deepStrictEqual(yield* storedIds(a.stream), [idOf(61), idOf(64)])
      // The failed message holds its instance's later ones back.
      const again = yield* Effect.flip(store.flush)
      assert.strictEqual(again.reason._tag, "StoreError")
      assert.deepStrictEqual(yield* storedIds(a.stream), [idOf(61), idOf(64)])
      yield* Topology.ensure({ streams: [{ name: b.stream, subjects: [`${b.subject}.>`] }] })
      assert.strictEqual(yield* store.flush, 2)
      assert.deepStrictEqual(yield* storedIds(a.stream), [idOf(61), idOf(64), idOf(63)])
      assert.deepStrictEqual(yield* storedIds(b.stream), [idOf(62)])
      assert.strictEqual(yield* store.flush, 0)
      assert.deepStrictEqual(yield* storedIds(a.stream), [idOf(61), idOf(64), idOf(63)])
    }))

  it.effect("a message appended before its removal from the document (a crash in between) is a duplicate for JetStream", () =>
    Effect.gen(function*() {
      const t = names()
      yield* Topology.ensure({ streams: [{ name: t.stream, subjects: [`${t.subject}.>`] }] })
      const store = yield* SagaKv.make({ bucket: t.bucket })
      const log = yield* EventLog.EventLog
      assert.strictEqual(
        yield* store.commit(commit({ trigger: trigger(1), outgoing: [{ subject: `${t.subject}.cmd`, envelope: envelope(71) }] })),
        "committed"
      )
      // The append of a flush that crashed before removing the message.
      yield* log.append(`${t.subject}.cmd`, envelope(71))
      assert.strictEqual(yield* store.flush, 1)
      assert.deepStrictEqual(yield* storedIds(t.stream), [idOf(71)])
      assert.strictEqual(yield* store.flush, 0)
    }))

  it.effect("an outgoing message that cannot be encoded or has an invalid subject is InvalidTransition; nothing is written", () =>
    Effect.gen(function*() {
      const store = yield* SagaKv.make({ bucket: names().bucket })
      const error = yield* Effect.flip(
        store.commit(
          commit({ trigger: trigger(1), outgoing: [{ subject: "x.y", envelope: envelope(81, "t", { "Nats-Msg-Id": "x" }) }] })
        )
      )
      assert.strictEqual(error.reason._tag, "InvalidTransition")
      assert.isFalse(error.isRetryable)
      assert.isTrue(Option.isNone(yield* store.load("order", "o-1")))
      assert.isFalse(yield* store.processed("order", idOf(1)))
      const foreign = yield* Effect.flip(
        store.commit(commit({ trigger: trigger(1), schedule: [timeout("order", "o-9", 82, "x", 1)] }))
      )
      assert.strictEqual(foreign.reason._tag, "InvalidTransition")
      for (const subject of ["", "a..b", "a.*", "a.>", "a b"]) {
        const refused = yield* Effect.flip(
          store.commit(commit({ trigger: trigger(1), outgoing: [{ subject, envelope: envelope(83) }] }))
        )
        assert.strictEqual(refused.reason._tag, "InvalidTransition", JSON.stringify(subject))
      }
      assert.isTrue(Option.isNone(yield* store.load("order", "o-1")))
    }))

  it.effect("a missing processed key (a crash after the compare-and-set) is written by the instance's next transition", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket })
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1) })), "committed")
      const kv = yield* openKv(bucket)
      yield* Effect.promise(() => kv.purge(SagaKv.keys.processed("order", idOf(1))))
      assert.isFalse(yield* store.processed("order", idOf(1)))
      // The document still knows the trigger.
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1), expectedVersion: 1 })), "duplicate")
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(2), expectedVersion: 1 })), "committed")
      assert.isTrue(yield* store.processed("order", idOf(1)))
      assert.isTrue(yield* store.processed("order", idOf(2)))
    }))

  it.effect("the processed list of a document is bounded by processedLimit", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket, processedLimit: 2 })
      for (let n = 1; n <= 4; n++) {
        assert.strictEqual(yield* store.commit(commit({ trigger: trigger(n), expectedVersion: n - 1 })), "committed")
      }
      const kv = yield* openKv(bucket)
      const entry = yield* Effect.promise(() => kv.get(SagaKv.keys.instance("order", "o-1")))
      const doc = JSON.parse(new TextDecoder().decode(entry!.value)) as { readonly processed: ReadonlyArray<string> }
      assert.deepStrictEqual(doc.processed, [idOf(3), idOf(4)])
      // The processed keys still answer for older triggers.
      assert.strictEqual(yield* store.commit(commit({ trigger: trigger(1), expectedVersion: 4 })), "duplicate")
    }))

  it.effect("a document that does not parse: CorruptState for the instance, skipped by list", () =>
    Effect.gen(function*() {
      const { bucket } = names()
      const store = yield* SagaKv.make({ bucket })
      yield* store.commit(commit({ id: "ok", trigger: trigger(1) }))
      const kv = yield* openKv(bucket)
      yield* Effect.promise(() => kv.put(SagaKv.keys.instance("order", "bad"), "not json"))
      assert.strictEqual((yield* Effect.flip(store.load("order", "bad"))).reason._tag, "CorruptState")
      assert.strictEqual(
        (yield* Effect.flip(store.commit(commit({ id: "bad", trigger: trigger(2), expectedVersion: 1 })))).reason._tag,
        "CorruptState"
      )
      assert.deepStrictEqual((yield* store.list()).map((i) => i.id), ["ok"])
    }))
})
