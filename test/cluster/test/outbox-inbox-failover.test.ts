/**
 * The outbox and the inbox across leader failover, on a three-node
 * nats-server 2.9 cluster (NatsCluster) and PostgreSQL (TestDatabase):
 * 10,000 business transactions publish through the outbox; the relay appends
 * them to an R3 stream, and an inbox-guarded runner applies each one's
 * effect (a counter row) while the stream's leader is SIGKILLed twice and a
 * follower is restarted. The client first knows only the first leader's
 * URL: it learns the other nodes from the cluster and moves to a survivor by
 * itself.
 *
 * Every assertion is an exact count; every wait is bounded.
 */
import { NatsCluster, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { Inbox, InboxSql, InboxStore } from "@herald/inbox"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql } from "@herald/outbox"
import { EventLog, Topology } from "@herald/transport"
import { NatsConnection } from "@herald/transport-nats"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import { applied, bump, createCounter, envelope, nodeOf, range, recordMoves, report, storedIds, transportOn, unique } from "./helpers.ts"

const { bounded, until, whileRunning } = Wait

describe("outbox → R3 stream → inbox, across leader failover", () => {
  it.live(
    "10,000 messages; the stream leader SIGKILLed twice and a follower restarted: 10,000 stored, 10,000 applied once",
    () => {
      const t = unique("fo")
      return Effect.scoped(Effect.gen(function*() {
        const N = 10_000
        const started = Date.now()
        const cluster = yield* NatsCluster.NatsCluster
        const sql = yield* SqlClient.SqlClient

        // The stream and consumer, created through every node's URL; then the
        // application's client, which knows only the stream leader's.
        yield* Topology.ensure({
          streams: [{ name: t.stream, subjects: [`${t.subject}.>`], replicas: 3 }, Topology.deadLetterStream()],
          consumers: [{ stream: t.stream, name: t.consumer, ackWait: "5 seconds" }]
        }).pipe(Effect.provide(transportOn(cluster, "failover-setup")))
        const firstLeader = yield* cluster.leaderOf(t.stream)
        const app = yield* Layer.build(transportOn(cluster, "failover", [cluster.nodes[firstLeader]!.url]))
        const connection = Context.get(app, NatsConnection.NatsConnection)
        const log = Context.get(app, EventLog.EventLog)
        assert.strictEqual(nodeOf(cluster, connection), firstLeader, "the client starts on the stream leader")
        const moves = yield* recordMoves(cluster, connection)

        // The outbox (its table migrated) and the relay.
        const outbox = yield* Layer.build(
          Outbox.layer.pipe(
            Layer.provideMerge(OutboxSql.layer({ table: t.table })),
            Layer.provide(OutboxMigrations.layer({ table: t.table }))
          )
        )
        const relay = Context.get(
          yield* Layer.build(
            OutboxRelay.layer({
              relays: 2,
              batchSize: 250,
              pollInterval: "200 millis",
              appendTimeout: "2 seconds",
              retryBase: "100 millis",
              retryMax: "1 second"
            }).pipe(Layer.provide(Layer.succeedContext(Context.merge(outbox, app))))
          ),
          OutboxRelay.OutboxRelay
        )

        // The consumer: the inbox records the message and the handler's
        // effect in one transaction.
        yield* createCounter(t.counter)
        const store = yield* InboxSql.make({ table: t.inbox })
        const seen = { deliveries: 0, redelivered: 0, calls: 0, duplicates: 0 }
        const guarded = Inbox.middleware({ onDuplicate: () => Effect.sync(() => void seen.duplicates++) })(
          (d: EventLog.Delivery) =>
            Effect.suspend(() => {
              seen.calls++
              return bump(t.counter, d.envelope.identity.messageId)
            })
        )
        const handler = (d: EventLog.Delivery) =>
          Effect.suspend(() => {
            seen.deliveries++
            if (d.deliveryCount > 1) seen.redelivered++
            return guarded(d)
          })
        const handle = yield* log.consume(t.stream, t.consumer, handler, { concurrency: 8 }).pipe(
          Effect.provideService(InboxStore.InboxStore, store)
        )

        // 10,000 business transactions on 8 fibers.
        let next = 0
        let committed = 0
        const writer = Effect.gen(function*() {
          while (next < N) {
            const n = ++next
            yield* sql.withTransaction(Outbox.publish(`${t.subject}.placed`, envelope(n)))
            committed++
          }
        }).pipe(Effect.provide(outbox))
        const writing = yield* Effect.forkChild(
          Effect.all(Array.from({ length: 8 }, () => writer), { concurrency: "unbounded", discard: true })
        )

        const faults: Array<string> = []
        const publishedAtLeast = (k: number, what: string) =>
          whileRunning(handle, until(relay.stats, (s) => s.published >= k, `the relay published ${k} (${what})`, { bound: "90 seconds" }))

        // 1. SIGKILL the stream leader (the client's node), then bring it back.
        yield* publishedAtLeast(2_000, "before the first kill")
        const leader1 = yield* cluster.leaderOf(t.stream)
        yield* cluster.kill(leader1)
        const after1 = yield* cluster.leaderOf(t.stream)
        faults.push(`killed leader n${leader1} at published ${(yield* relay.stats).published}; new leader n${after1}`)
        yield* cluster.start(leader1)

        // 2. Restart a follower (SIGTERM, start, caught up).
        yield* publishedAtLeast(4_500, "before the follower restart")
        const leaderNow = yield* cluster.leaderOf(t.stream)
        const follower = [0, 1, 2].find((i) => i !== leaderNow)!
        yield* cluster.restart(follower)
        faults.push(`restarted follower n${follower} at published ${(yield* relay.stats).published}`)

        // 3. SIGKILL the stream leader again, then bring it back.
        yield* publishedAtLeast(7_000, "before the second kill")
        const leader2 = yield* cluster.leaderOf(t.stream)
        yield* cluster.kill(leader2)
        const after2 = yield* cluster.leaderOf(t.stream)
        faults.push(`killed leader n${leader2} at published ${(yield* relay.stats).published}; new leader n${after2}`)
        yield* cluster.start(leader2)

        yield* bounded(Fiber.join(writing), "90 seconds", () => `the writers (${committed} committed)`)
        assert.strictEqual(committed, N, "committed transactions")
        const status = yield* until(
          Outbox.status.pipe(Effect.provide(outbox)),
          (s) => s.pending === 0 && s.leased === 0,
          "outbox: nothing pending",
          { bound: "90 seconds" }
        )
        yield* whileRunning(
          handle,
          until(
            Effect.zip(applied(t.counter), log.lag(t.stream, t.consumer)),
            ([a, lag]) => a.distinct === N && lag.pending === 0 && lag.ackPending === 0,
            "every message applied and acked",
            { bound: "90 seconds", interval: "200 millis" }
          )
        )
        // Longer than the ack wait: whatever was still to be redelivered has been.
        yield* Effect.sleep("6 seconds")

        const effects = yield* applied(t.counter)
        const ids = yield* storedIds(log, t.stream)
        const info = yield* log.info(t.stream)
        const stats = yield* relay.stats
        const records = yield* store.records({ consumer: t.consumer, limit: N + 10 })
        const runner = yield* handle.stats
        const state = yield* handle.state
        const running = yield* cluster.running
        const onNode = nodeOf(cluster, connection)
        yield* report(
          "failover",
          `faults: ${faults.join("; ")}; client moves ${JSON.stringify(moves)}, now on n${onNode}; ` +
            `relay published ${stats.published}, duplicates ${stats.duplicates}, failed appends ${stats.failed}; ` +
            `stream ${info.messages} messages, last sequence ${info.lastSequence}; deliveries ${seen.deliveries} ` +
            `(redelivered ${seen.redelivered}), handler calls ${seen.calls}, inbox duplicates skipped ${seen.duplicates}; ` +
            `runner ${JSON.stringify(runner)}; ` +
            `outbox ${JSON.stringify(status)}; ${Date.now() - started} ms`
        )

        assert.strictEqual(new Set(ids).size, N, "distinct message ids in the stream")
        assert.strictEqual(ids.length, N, "messages in the stream")
        assert.deepStrictEqual(
          [...new Set(ids)].sort(),
          range(1, N).map((n) => envelope(n).identity.messageId).sort(),
          "exactly the published ids"
        )
        assert.strictEqual(info.messages, N)
        assert.deepStrictEqual(effects, { distinct: N, total: N, twice: 0 }, "each effect applied exactly once")
        assert.strictEqual(records.length, N, "inbox records")
        assert.deepStrictEqual([status.pending, status.leased, status.parked, status.sent], [0, 0, 0, N])
        // The runner never stopped.
        assert.isTrue(Option.isNone(yield* Effect.timeoutOption(handle.await, "1 millis")), "the runner runs")
        assert.notStrictEqual(state._tag, "Failed")
        // The client left the killed leader for a surviving node by itself, and is on a running node.
        assert.deepStrictEqual(moves[0], { event: "disconnected", node: leader1 })
        const firstBack = moves.find((m) => m.event === "reconnected")
        assert.isDefined(firstBack, "the client reconnected")
        assert.notStrictEqual(firstBack!.node, leader1, "to another node than the one killed")
        assert.isTrue(onNode !== undefined && running.includes(onNode))
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(cluster.awaitHealthy())))
      })).pipe(
        Effect.provide(Layer.mergeAll(TestDatabase.layerPg({ maxConnections: 24 }), NatsCluster.layer()))
      )
    },
    240_000
  )
})
