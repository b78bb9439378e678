/**
 * The reliability scenario, run against a real nats-server with a given
 * store (`reliability.test.ts`: memory, `reliability.pg.test.ts`: SagaSql on
 * PostgreSQL with the outbox relay):
 *
 * N checkout sagas (default 200, three steps each; every fifth order fails
 * at shipping and is compensated) driven by three `SagaRunner`s that share
 * one durable consumer and one store, each runner on a NATS connection of
 * its own (and with what else a process of its own runs, `perRunner`: the
 * outbox relay), while
 *
 * - the saga consumer's ack wait is 1 second and every tenth transition's
 *   first attempt is held 1.5 s (`hold`: before its commit, or inside its
 *   transaction after its writes): the server redelivers the message while
 *   that attempt still runs, and the store must refuse one of the two;
 * - the runners hold up to 80 deliveries each for 8 handlers, so deliveries
 *   also wait in a runner past the ack wait and are redelivered to another;
 * - one runner is killed mid-run: its connection closed without a drain,
 *   then its scope closed with no shutdown grace, while it holds
 *   deliveries.
 *
 * The assertions are exact counts, read from the store and from the stream:
 * every saga ends once in its final state with exactly its transitions, and
 * every message the sagas sent is stored exactly once. No assertion is about
 * timing. `SAGA_RELIABILITY_N` changes the number of sagas.
 */
import { NatsServer, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import { NatsConnection, NatsTransport } from "@herald/transport-nats"
import { assert } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type SagaError, SagaRunner, SagaStore } from "../src/index.ts"
import * as F from "./fixtures.ts"

export const N = Number(process.env["SAGA_RELIABILITY_N"] ?? "200")
export const RUNNERS = 3
const SLOW_EVERY = 10

export const title =
  `${N} sagas on ${RUNNERS} runners sharing one consumer, redelivered while running, one runner killed: each saga ends once, each message stored once`

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

/** Counts of what the store was asked to commit, and what it answered. */
export interface CommitCounts {
  attempts: number
  held: number
  committed: number
  duplicate: number
  conflict: number
}

/** How a held attempt is held: around the store's `commit`. */
export type Hold = (
  commit: Effect.Effect<SagaStore.CommitResult, SagaError.SagaError>
) => Effect.Effect<SagaStore.CommitResult, SagaError.SagaError>

/** The store shared by the runners, every `SLOW_EVERY`th first attempt of a trigger held by `hold`. */
const holding = (
  store: SagaStore.SagaStore["Service"],
  counts: CommitCounts,
  hold: Hold
): SagaStore.SagaStore["Service"] => {
  const seen = new Set<string>()
  return SagaStore.SagaStore.of({
    ...store,
    commit: (c) =>
      Effect.gen(function*() {
        counts.attempts++
        let commit = store.commit(c)
        if (!seen.has(c.trigger.messageId)) {
          seen.add(c.trigger.messageId)
          if (seen.size % SLOW_EVERY === 0) {
            counts.held++
            commit = hold(commit)
          }
        }
        const result = yield* commit
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

/**
 * A runner on a NATS connection of its own, both owned by a scope of its own
 * (a child of the test's: closed with it), with `perRunner` started in it.
 */
const startRunner = <R>(
  parent: Scope.Scope,
  name: string,
  url: string,
  store: SagaStore.SagaStore["Service"],
  perRunner: (nats: Context.Context<NatsTransport.Services>) => Effect.Effect<void, unknown, Scope.Scope | R>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(parent, "sequential")
    const nats = yield* Layer.buildWithScope(NatsTransport.layer({ servers: url, name }), scope)
    yield* Scope.provide(perRunner(nats), scope)
    const handle = yield* SagaRunner.run(F.checkout(), {
      stream: F.stream,
      consumer: "checkout",
      concurrency: 8,
      maxAckPending: 80,
      // longer than the ack wait: a held attempt runs on while its redelivery is handled
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

/** What a store brings to the scenario. */
export interface Setup<R> {
  readonly label: string
  readonly store: SagaStore.SagaStore["Service"]
  readonly hold: Hold
  /** Started in each runner's scope, on the runner's NATS services (say, the runner's outbox relay). */
  readonly perRunner: (nats: Context.Context<NatsTransport.Services>) => Effect.Effect<void, unknown, Scope.Scope | R>
  /** Outgoing messages committed and not yet in the stream, as far as the store knows (the outbox's pending). */
  readonly unsent: Effect.Effect<number, unknown, R>
}

/** The scenario; the `EventLog` of the context is the test's own connection (placing orders, the services, reads). */
export const scenario = <R>(setup: Setup<R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const parent = yield* Effect.scope
    const server = yield* NatsServer.NatsServer
    const log = yield* EventLog.EventLog
    yield* F.topology({ ackWait: "1 second", maxDeliver: 50 })

    const received: Array<F.Received> = []
    yield* F.services((orderId) => (fails(Number(orderId.slice(2))) ? { failAt: "shipping" } : {}), received)

    const counts: CommitCounts = { attempts: 0, held: 0, committed: 0, duplicate: 0, conflict: 0 }
    const store = holding(setup.store, counts, setup.hold)
    const runners = yield* Effect.forEach(
      Array.from({ length: RUNNERS }, (_, i) => `saga-runner-${i + 1}`),
      (name) => startRunner(parent, name, server.url, store, setup.perRunner)
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
    const settled = Effect.all({ finals, saga: lag("checkout"), services: lag("services"), unsent: setup.unsent })
    yield* Wait.until(
      settled,
      (s) => s.finals === N && s.saga === 0 && s.services === 0 && s.unsent === 0,
      "every saga finished, every message sent, both consumers caught up",
      { bound: "40 seconds", interval: "100 millis" }
    )
    // Longer than the ack wait: nothing is redelivered any more.
    yield* Effect.sleep("1500 millis")
    const after = yield* settled
    assert.deepStrictEqual(after, { finals: N, saga: 0, services: 0, unsent: 0 })

    const runnerStats = yield* Effect.forEach(survivors, (r) => r.handle.stats)
    const stored = Array.from(yield* Stream.runCollect(log.readRaw(F.stream)))
    const info = yield* log.info(F.stream)
    const dlq = yield* log.info(Topology.deadLetterStream().name)

    yield* Effect.sync(() =>
      console.log(
        `[saga reliability, ${setup.label}] ${N} sagas in ${Date.now() - started} ms; commits ${JSON.stringify(counts)}; ` +
          `at kill ${JSON.stringify(atKill)}; survivors ${JSON.stringify(runnerStats)}; ` +
          `stream ${info.messages} messages (last sequence ${info.lastSequence}); commands received ${received.length}`
      )
    )

    // The run exercised what it claims to.
    assert.isAbove(counts.held, 0, "held first attempts")
    assert.isAbove(
      counts.duplicate + counts.conflict,
      0,
      "a redelivery ran while the first attempt still ran (and the store refused one of them)"
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
    // (A commit of the killed runner may have taken effect after its fiber stopped listening: not counted here.)
    assert.isAtMost(counts.committed, transitions, "commits answered committed")
    const instances = yield* store.list({ saga: "checkout", limit: N + 10 })
    assert.strictEqual(instances.length, N, "instances")
    let entries = 0
    for (const p of placed) {
      const want = fails(p.n) ? expected.compensated : expected.completed
      const instance = instances.find((i) => i.id === p.id)
      assert.isDefined(instance, `saga o-${p.n}`)
      assert.strictEqual(instance!.status, fails(p.n) ? "compensated" : "completed", `status of o-${p.n}`)
      assert.strictEqual(instance!.version, want.triggers.length, `version of o-${p.n}`)
      const history = yield* store.history("checkout", p.id)
      entries += history.length
      assert.deepStrictEqual(history.map((h) => h.trigger.type), [...want.triggers], `history of o-${p.n}`)
      assert.deepStrictEqual(history.map((h) => h.version), want.triggers.map((_, i) => i + 1), `versions of o-${p.n}`)
      assert.strictEqual(new Set(history.map((h) => h.trigger.messageId)).size, want.triggers.length)
      assert.strictEqual(history[0]!.trigger.messageId, p.messageId)
      assert.deepStrictEqual(yield* store.timeouts("checkout", p.id), [])
    }
    assert.strictEqual(entries, transitions, "transitions in the store")

    // The stream: every message once, exactly the expected commands per saga, in order.
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
    return { counts, outgoing: commands.length + N }
  })

