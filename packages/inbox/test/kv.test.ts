/**
 * The NATS KV store against a real nats-server 2.9.
 */
import { NatsServer, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import { NatsConnection, NatsTransport } from "@herald/transport-nats"
import { assert, describe, it, layer } from "@effect/vitest"
import { Kvm } from "@nats-io/kv"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { Inbox, InboxError, InboxStore } from "../src/index.ts"
import { InboxKv } from "../src/kv.ts"
import { boom, envelope, idOf, lagOf, unique } from "./helpers.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "inbox-kv-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

const entry = (n: number, consumer = "c"): InboxStore.Entry => ({
  consumer,
  messageId: idOf(n),
  stream: "S",
  streamSequence: n,
  subject: "s.x",
  type: "test.Deposited",
  deliveryCount: 1
})

const openKv = (bucket: string) =>
  Effect.flatMap(NatsConnection.NatsConnection, (c) => Effect.promise(() => new Kvm(c.jetstream).open(bucket)))

const reasonOf = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  return failure !== undefined && failure._tag === "Fail" && InboxError.isInboxError(failure.error)
    ? failure.error.reason._tag
    : "other"
}

let buckets = 0
const bucket = () => `inbox_kv_${++buckets}_${Math.random().toString(36).slice(2, 6)}`

describe("InboxKv keys", () => {
  it("keyToken keeps letters, digits, '_' and '-', escapes every other byte; keys are valid and distinct", () => {
    assert.strictEqual(InboxKv.keyToken("billing-v2_x"), "billing-v2_x")
    assert.strictEqual(InboxKv.keyToken("a.b*c>d e=f/"), "a=2Eb=2Ac=3Ed=20e=3Df=2F")
    assert.strictEqual(InboxKv.keyToken("é"), "=C3=A9")
    assert.notStrictEqual(InboxKv.keyOf("a.b", "c"), InboxKv.keyOf("a", "b.c"))
    assert.notStrictEqual(InboxKv.keyToken("=2E"), InboxKv.keyToken("."))
    assert.match(InboxKv.keyOf("orders.billing", "00000000-0000-7000-8000-000000000001"), /^[-\w=]+\.[-\w=]+$/)
  })
})

layer(Nats, { excludeTestServices: true, timeout: "60 seconds" })("InboxKv on nats-server", (it) => {
  it.effect("the bucket is created with the TTL (bucket max_age, history 1); an existing bucket's TTL is brought to the configured one", () =>
    Effect.gen(function*() {
      const name = bucket()
      const store = yield* InboxKv.make({ bucket: name, ttl: "1 hour" })
      assert.strictEqual(store.kind, "kv")
      assert.strictEqual(store.guarantee, "markAfterSuccess")
      const status = yield* Effect.flatMap(openKv(name), (kv) => Effect.promise(() => kv.status()))
      assert.strictEqual(status.ttl, 3_600_000)
      assert.strictEqual(status.history, 1)
      // nats-server 2.9 has no per-key TTL: no delete-marker TTL is configured.
      assert.strictEqual(status.markerTTL, 0)
      yield* InboxKv.make({ bucket: name, ttl: "2 hours" })
      const again = yield* Effect.flatMap(openKv(name), (kv) => Effect.promise(() => kv.status()))
      assert.strictEqual(again.ttl, 7_200_000)
      const bad = yield* Effect.flip(InboxKv.make({ bucket: "no.dots", ttl: "1 hour" }))
      assert.strictEqual(bad.reason._tag, "InvalidConfig")
      const badTtl = yield* Effect.flip(InboxKv.make({ bucket: name, ttl: "0 millis" }))
      assert.strictEqual(badTtl.reason._tag, "InvalidConfig")
    }))

  it.effect("create-only: the second record of a message id is detected as a duplicate; another consumer is not", () =>
    Effect.gen(function*() {
      const name = bucket()
      const store = yield* InboxKv.make({ bucket: name, ttl: "1 hour" })
      let runs = 0
      const effect = Effect.sync(() => void runs++)
      assert.strictEqual(yield* store.run(entry(1), effect), "processed")
      assert.strictEqual(yield* store.run(entry(1), effect), "duplicate")
      assert.strictEqual(yield* store.run({ ...entry(1), deliveryCount: 2 }, effect), "duplicate")
      assert.strictEqual(runs, 1)
      assert.strictEqual(yield* store.run(entry(1, "other"), effect), "processed")
      assert.strictEqual(runs, 2)
      // The server refuses a second create of the key.
      const kv = yield* openKv(name)
      const second = yield* Effect.exit(Effect.tryPromise(() => kv.create(InboxKv.keyOf("c", idOf(1)), "x")))
      assert.isTrue(Exit.isFailure(second))
      const record = (yield* store.record("c", idOf(1)))
      assert.strictEqual(record._tag, "Some")
    }))

  it.effect("concurrent deliveries: exactly one claims and runs; the others fail with InProgress (retryable); later ones are duplicates", () =>
    Effect.gen(function*() {
      const store = yield* InboxKv.make({ bucket: bucket(), ttl: "1 hour" })
      let runs = 0
      const effect = Effect.andThen(Effect.sync(() => void runs++), Effect.sleep("300 millis"))
      const exits = yield* Effect.all(Array.from({ length: 8 }, () => Effect.exit(store.run(entry(1), effect))), {
        concurrency: "unbounded"
      })
      assert.strictEqual(runs, 1)
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
      assert.deepStrictEqual(exits.filter(Exit.isFailure).map(reasonOf), Array(7).fill("InProgress"))
      const failure = exits.find(Exit.isFailure)!
      const error = failure.cause.reasons.find((r) => r._tag === "Fail")
      assert.isTrue(error !== undefined && error._tag === "Fail" && (error.error as InboxError.InboxError).isRetryable)
      assert.strictEqual(yield* store.run(entry(1), effect), "duplicate")
      assert.strictEqual(runs, 1)
    }))

  it.effect("a failed or interrupted handler releases its claim: the redelivery runs it", () =>
    Effect.gen(function*() {
      const store = yield* InboxKv.make({ bucket: bucket(), ttl: "1 hour" })
      const failed = yield* Effect.flip(store.run(entry(1), Effect.fail(boom())))
      assert.strictEqual((failed as { readonly reason: { readonly _tag: string } }).reason._tag, "HandlerFailed")
      assert.isFalse(yield* Effect.map(store.record("c", idOf(1)), (o) => o._tag === "Some"))
      assert.strictEqual(yield* store.run(entry(1), Effect.void), "processed")

      const fiber = yield* Effect.forkChild(store.run(entry(2), Effect.never))
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* store.run(entry(2), Effect.void), "processed")
    }))

  it.effect("a claim whose lease ended (its holder died) is taken over; a live one is InProgress", () =>
    Effect.gen(function*() {
      const name = bucket()
      const store = yield* InboxKv.make({ bucket: name, ttl: "1 hour", lease: "10 seconds" })
      const kv = yield* openKv(name)
      const now = yield* Clock.currentTimeMillis
      const claim = (n: number, until: number) =>
        Effect.promise(() =>
          kv.create(InboxKv.keyOf("c", idOf(n)), JSON.stringify({ ...entry(n), state: "claimed", at: now, until }))
        )
      yield* claim(1, now - 1)
      yield* claim(2, now + 60_000)
      let runs = 0
      assert.strictEqual(yield* store.run(entry(1), Effect.sync(() => void runs++)), "processed")
      assert.strictEqual(runs, 1)
      assert.strictEqual(reasonOf(yield* Effect.exit(store.run(entry(2), Effect.sync(() => void runs++)))), "InProgress")
      assert.strictEqual(runs, 1)
      // A key this store did not write counts as a record.
      yield* Effect.promise(() => kv.create(InboxKv.keyOf("c", idOf(3)), "foreign"))
      assert.strictEqual(yield* store.run(entry(3), Effect.sync(() => void runs++)), "duplicate")
    }))

  it.effect("markBeforeHandler: the mark comes first (a concurrent delivery is a duplicate at once); a failure removes it", () =>
    Effect.gen(function*() {
      const store = yield* InboxKv.make({ bucket: bucket(), ttl: "1 hour", mode: "markBeforeHandler" })
      assert.strictEqual(store.guarantee, "markBeforeHandler")
      let runs = 0
      const slow = yield* Effect.forkChild(store.run(entry(1), Effect.andThen(Effect.sync(() => void runs++), Effect.sleep("300 millis"))))
      yield* Effect.sleep("100 millis")
      assert.strictEqual(yield* store.run(entry(1), Effect.sync(() => void runs++)), "duplicate")
      assert.strictEqual(yield* Fiber.join(slow), "processed")
      assert.strictEqual(runs, 1)
      yield* Effect.flip(store.run(entry(2), Effect.fail(boom())))
      assert.strictEqual(yield* store.run(entry(2), Effect.sync(() => void runs++)), "processed")
      assert.strictEqual(runs, 2)
    }))

  it.effect("the bucket TTL expires records: a message delivered after it is applied again", () =>
    Effect.gen(function*() {
      const store = yield* InboxKv.make({ bucket: bucket(), ttl: "1 second" })
      assert.strictEqual(yield* store.run(entry(1), Effect.void), "processed")
      assert.strictEqual(yield* store.run(entry(1), Effect.void), "duplicate")
      yield* Wait.until(Effect.map(store.record("c", idOf(1)), (o) => o._tag), (tag) => tag === "None", "the record expired", {
        bound: "15 seconds",
        interval: "200 millis"
      })
      assert.strictEqual(yield* store.run(entry(1), Effect.void), "processed")
    }))

  it.effect("records, forget and deleteBefore", () =>
    Effect.gen(function*() {
      const store = yield* InboxKv.make({ bucket: bucket(), ttl: "1 hour" })
      yield* store.run(entry(1), Effect.void)
      yield* Effect.sleep("20 millis")
      yield* store.run(entry(2), Effect.void)
      yield* store.run({ ...entry(3, "d.e"), type: "test.Other" }, Effect.void)
      assert.deepStrictEqual((yield* store.records()).map((r) => r.messageId), [idOf(1), idOf(2), idOf(3)])
      assert.deepStrictEqual((yield* store.records({ consumer: "c" })).map((r) => r.messageId), [idOf(1), idOf(2)])
      assert.deepStrictEqual((yield* store.records({ consumer: "d.e" })).map((r) => r.consumer), ["d.e"])
      assert.deepStrictEqual((yield* store.records({ type: "test.Other" })).map((r) => r.messageId), [idOf(3)])
      const first = (yield* store.records())[0]!
      assert.strictEqual(yield* store.deleteBefore(first.processedAt + 1), 1)
      assert.strictEqual((yield* store.records()).length, 2)
      assert.isTrue(yield* store.forget("c", idOf(2)))
      assert.isFalse(yield* store.forget("c", idOf(2)))
      assert.deepStrictEqual((yield* store.records()).map((r) => r.messageId), [idOf(3)])
    }))

  it.effect("the middleware over NatsTransport: a message stored twice is applied once, both copies acked", () =>
    Effect.gen(function*() {
      const t = unique("kvmw")
      yield* Topology.ensure({
        streams: [{ name: t.stream, subjects: [`${t.subject}.>`], duplicateWindow: "200 millis" }],
        consumers: [{ stream: t.stream, name: t.consumer }]
      })
      const log = yield* EventLog.EventLog
      yield* log.append(`${t.subject}.x`, envelope(1))
      yield* Effect.sleep("400 millis")
      const again = yield* log.append(`${t.subject}.x`, envelope(1))
      assert.isFalse(again.duplicate)
      const applied: Array<number> = []
      const store = yield* InboxKv.make({ bucket: bucket(), ttl: "1 hour" })
      const handle = yield* log.consume(
        t.stream,
        t.consumer,
        Inbox.middleware()((d) => Effect.sync(() => void applied.push(d.streamSequence)))
      ).pipe(Effect.provideService(InboxStore.InboxStore, store))
      yield* Wait.until(handle.stats, (s) => s.acked === 2, "both copies acked")
      assert.deepStrictEqual(applied, [1])
      yield* Wait.until(lagOf(log, t.stream, t.consumer), (l) => l.ackPending === 0 && l.pending === 0, "lag 0")
    }))
})
