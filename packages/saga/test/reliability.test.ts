/**
 * Reliability of sagas against a real nats-server (NatsServer, one per file):
 * N checkout sagas (default 200, three steps each; every fifth order fails at
 * shipping and is compensated) driven by three `SagaRunner`s that share one
 * durable consumer and one memory store, each runner on a NATS connection of
 * its own, while
 *
 * - the saga consumer's ack wait is 1 second and every tenth transition's
 *   first attempt sleeps 1.5 s before its commit: the server redelivers the
 *   message while that attempt still runs, the redelivery commits, and the
 *   first attempt then finds its trigger processed (a duplicate);
 * - the runners hold up to 80 deliveries each for 8 handlers, so deliveries
 *   also wait in a runner past the ack wait and are redelivered to another;
 * - one runner is killed mid-run: its connection closed without a drain,
 *   then its scope closed with no shutdown grace, while it holds
 *   deliveries.
 *
 * The assertions are exact counts, read from the store and from the stream:
 * every saga ends once in its final state with exactly its transitions, and
 * every command the sagas sent is stored exactly once. No assertion is about
 * timing. `SAGA_RELIABILITY_N` changes the number of sagas.
 */
import { IdGenerator } from "@herald/identity"
import { NatsServer, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import { NatsConnection, NatsTransport } from "@herald/transport-nats"
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { SagaMemory, SagaRunner, SagaStore } from "../src/index.ts"
import * as F from "./fixtures.ts"

const N = Number(process.env["SAGA_RELIABILITY_N"] ?? "200")
const RUNNERS = 3
const SLOW_EVERY = 10

const Suite = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "saga-reliability-store" }))
).pipe(Layer.provideMerge(NatsServer.layer()), Layer.merge(IdGenerator.layer))

const fails = (n: number) => n % 5 === 0

const expected = {
  completed: {
    triggers: [F.OrderPlaced.type, F.StockReserved.type, F.PaymentCharged.type, F.OrderShipped.type],
    commands: [F.ReserveStock.type, F.ChargePayment.type, F.ShipOrder.type]
  },
  compensated: {
    triggers: [
      F.OrderPlaced.type,
      F.StockReserved.type,
      F.PaymentCharged.type,
      F.ShippingFailed.type,
      F.PaymentRefunded.type,
      F.StockReleased.type
    ],
    commands: [F.ReserveStock.type, F.ChargePayment.type, F.ShipOrder.type, F.RefundPayment.type, F.ReleaseStock.type]
  }
} as const

/** Counts of what the store was asked to commit. */
interface CommitCounts {
  attempts: number
  slowed: number
  committed: number
  duplicate: number
  conflict: number
}

/** The shared store, every `SLOW_EVERY`th first attempt of a trigger delayed by 1.5 s before its commit. */
const slowed = (store: SagaStore.SagaStore["Service"], counts: CommitCounts): SagaStore.SagaStore["Service"] => {
  const seen = new Set<string>()
  return SagaStore.SagaStore.of({
    ...store,
    commit: (c) =>
      Effect.gen(function*() {
        counts.attempts++
        if (!seen.has(c.trigger.messageId)) {
          seen.add(c.trigger.messageId)
          if (seen.size % SLOW_EVERY === 0) {
            counts.slowed++
            yield* Effect.sleep("1500 millis")
          }
        }
        const result = yield* store.commit(c)
        counts[result]++
        return result
      })
  })
}

interface Runner {
  readonly name: string
  readonly scope: Scope.Closeable
  readonly handle: SagaRunner.Handle
  readonly connection: NatsConnection.NatsConnection["Service"]
}

/** A runner on a NATS connection of its own, both owned by a scope of its own. */
const startRunner = (name: string, url: string, store: SagaStore.SagaStore["Service"]) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const nats = yield* Layer.buildWithScope(NatsTransport.layer({ servers: url, name }), scope)
    const handle = yield* SagaRunner.run(F.checkout(), {
      stream: F.stream,
      consumer: "checkout",
      concurrency: 8,
      maxAckPending: 80,
      // longer than the ack wait: a slowed attempt runs on while its redelivery is handled
      handlerDeadline: "5 seconds",
      nakDelay: () => "50 millis",
      shutdownTimeout: 0,
      timeoutInterval: "200 millis"
    }).pipe(
      Effect.provideService(SagaStore.SagaStore, store),
      Effect.provideContext(nats),
      Scope.provide(scope)
    )
    return { name, scope, handle, connection: Context.get(nats, NatsConnection.NatsConnection) } satisfies Runner
  })

/** A crash: the connection closed at once (no drain: nothing in flight is acked or nak'd), then the runner's scope. */
const kill = (runner: Runner) =>
  Effect.gen(function*() {
    yield* Effect.promise(() => runner.connection.client.close())
    yield* Scope.close(runner.scope, Exit.void)
  })

const header = (m: EventLog.RawStoredMessage, name: string) => m.raw.headers[name]

layer(Suite, { excludeTestServices: true, timeout: "60 seconds" })("saga reliability (nats-server, memory store)", (it) => {
  it.effect(
    `${N} sagas on ${RUNNERS} runners sharing one consumer, redelivered while running, one runner killed: each saga ends once, each command stored once`,
    () =>
      Effect.gen(function*() {
        const started = Date.now()
        const server = yield* NatsServer.NatsServer
        const log = yield* EventLog.EventLog
        yield* F.topology({ ackWait: "1 second", maxDeliver: 50 })

        const received: Array<F.Received> = []
        yield* F.services((orderId) => (fails(Number(orderId.slice(2))) ? { failAt: "shipping" } : {}), received)

        const counts: CommitCounts = { attempts: 0, slowed: 0, committed: 0, duplicate: 0, conflict: 0 }
        const store = slowed(yield* SagaMemory.make, counts)
        const runners = yield* Effect.forEach(
          Array.from({ length: RUNNERS }, (_, i) => `saga-runner-${i + 1}`),
          (name) => startRunner(name, server.url, store)
        )

        // N orders placed at once
        const placed = yield* Effect.forEach(
          Array.from({ length: N }, (_, i) => i + 1),
          (n) =>
            Effect.gen(function*() {
              const envelope = yield* F.OrderPlaced.root({ orderId: `o-${n}`, total: n })
              yield* log.append("shop.evt.orders.placed", envelope)
              return { n, id: envelope.identity.correlationId, messageId: envelope.identity.messageId }
            }),
          { concurrency: 32 }
        )

        const finals = Effect.map(
          store.list({ saga: "checkout", limit: N + 10 }),
          (all) => all.filter((i) => SagaStore.isFinal(i.status)).length
        )

        // The kill: once a quarter of the sagas are done, while the victim holds deliveries.
        const victim = runners[0]!
        yield* Wait.until(
          Effect.zip(finals, victim.handle.stats),
          ([done, s]) => done >= N / 4 && s.consumer.inFlight > 0,
          "a quarter of the sagas finished, the victim runner holding deliveries",
          { bound: "30 seconds", interval: "10 millis" }
        )
        const atKill = { finals: yield* finals, victim: yield* victim.handle.stats }
        yield* kill(victim)
        const survivors = runners.slice(1)

        const lag = (consumer: string) => Effect.map(log.lag(F.stream, consumer), (l) => l.pending + l.ackPending)
        const settled = Effect.all({ finals, saga: lag("checkout"), services: lag("services") })
        yield* Wait.until(
          settled,
          (s) => s.finals === N && s.saga === 0 && s.services === 0,
          "every saga finished, both consumers caught up",
          { bound: "40 seconds", interval: "100 millis" }
        )
        // Longer than the ack wait: nothing is redelivered any more.
        yield* Effect.sleep("1500 millis")
        const after = yield* settled
        assert.deepStrictEqual(after, { finals: N, saga: 0, services: 0 })

        const runnerStats = yield* Effect.forEach(survivors, (r) => r.handle.stats)
        const stored = Array.from(yield* Stream.runCollect(log.readRaw(F.stream)))
        const info = yield* log.info(F.stream)
        const dlq = yield* log.info(Topology.deadLetterStream().name)

        yield* Effect.sync(() =>
          console.log(
            `[saga reliability] ${N} sagas in ${Date.now() - started} ms; commits ${JSON.stringify(counts)}; ` +
              `at kill ${JSON.stringify(atKill)}; survivors ${JSON.stringify(runnerStats)}; ` +
              `stream ${info.messages} messages (last sequence ${info.lastSequence}); commands received ${received.length}`
          )
        )

        // The run exercised what it claims to.
        assert.isAbove(counts.slowed, 0, "slowed first attempts")
        assert.isAbove(
          counts.duplicate + counts.conflict,
          0,
          "a redelivery committed while the first attempt still ran (which the store then refused)"
        )
        assert.isAbove(atKill.victim.applied, 0, "the killed runner had applied transitions")
        for (const s of runnerStats) assert.isAbove(s.applied, 0, "every surviving runner applied transitions")
        assert.strictEqual(runnerStats.reduce((a, s) => a + s.consumer.deadLettered, 0), 0, "dead letters")
        assert.strictEqual(dlq.messages, 0, "nothing in the dead-letter stream")

        // The store: every saga once, in its final state, with exactly its transitions.
        const transitions = placed.reduce(
          (a, p) => a + (fails(p.n) ? expected.compensated : expected.completed).triggers.length,
          0
        )
        assert.strictEqual(counts.committed, transitions, "commits that took effect")
        const instances = yield* store.list({ saga: "checkout", limit: N + 10 })
        assert.strictEqual(instances.length, N, "instances")
        for (const p of placed) {
          const want = fails(p.n) ? expected.compensated : expected.completed
          const instance = instances.find((i) => i.id === p.id)
          assert.isDefined(instance, `saga o-${p.n}`)
          assert.strictEqual(instance!.status, fails(p.n) ? "compensated" : "completed", `status of o-${p.n}`)
          assert.strictEqual(instance!.version, want.triggers.length, `version of o-${p.n}`)
          const history = yield* store.history("checkout", p.id)
          assert.deepStrictEqual(history.map((h) => h.trigger.type), [...want.triggers], `history of o-${p.n}`)
          assert.deepStrictEqual(history.map((h) => h.version), want.triggers.map((_, i) => i + 1), `versions of o-${p.n}`)
          assert.strictEqual(new Set(history.map((h) => h.trigger.messageId)).size, want.triggers.length)
          assert.strictEqual(history[0]!.trigger.messageId, p.messageId)
          assert.deepStrictEqual(yield* store.timeouts("checkout", p.id), [])
        }

        // The stream: every command once, exactly the expected ones per saga, in order.
        const ids = stored.map((m) => header(m, "Nats-Msg-Id"))
        assert.strictEqual(new Set(ids).size, stored.length, "distinct Nats-Msg-Id in the stream")
        assert.deepStrictEqual(
          stored.filter((m) => header(m, "Nats-Msg-Id") !== header(m, "Herald-Message-Id")).length,
          0,
          "Nats-Msg-Id is the message id"
        )
        const commands = stored.filter((m) => header(m, "Herald-Kind") === "command")
        const bySaga = new Map<string, Array<string>>()
        for (const m of commands) {
          const saga = header(m, "Herald-Correlation-Id")!
          bySaga.set(saga, [...(bySaga.get(saga) ?? []), header(m, "Herald-Type")!])
        }
        assert.strictEqual(bySaga.size, N, "sagas with commands")
        for (const p of placed) {
          const want = fails(p.n) ? expected.compensated : expected.completed
          assert.deepStrictEqual(bySaga.get(p.id), [...want.commands], `commands of o-${p.n}`)
        }
        const completed = placed.filter((p) => !fails(p.n)).length
        const compensated = N - completed
        assert.strictEqual(commands.length, completed * 3 + compensated * 5, "commands in the stream")
        const typed = (type: string) => stored.filter((m) => header(m, "Herald-Type") === type).length
        assert.strictEqual(typed(F.OrderConfirmed.type), completed, "confirmations")
        assert.strictEqual(typed(F.OrderCancelled.type), compensated, "cancellations")
        // placed + commands + one reply per command + the final event; no sequence ever spent on a copy
        const total = N + 2 * commands.length + N
        assert.strictEqual(info.messages, total, "stored messages")
        assert.strictEqual(info.lastSequence, total, "last sequence")

        // The services: each command at least once, nothing they were not sent.
        const commandIds = new Set(commands.map((m) => header(m, "Herald-Message-Id")!))
        const receivedIds = new Set(received.map((r) => r.messageId))
        assert.deepStrictEqual([...commandIds].filter((id) => !receivedIds.has(id)), [], "commands never received")
        assert.deepStrictEqual([...receivedIds].filter((id) => !commandIds.has(id)), [], "received, not stored")
      }),
    60_000
  )
})
