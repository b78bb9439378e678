/**
 * An inbox-guarded consumer runner on a three-node nats-server 2.9 cluster
 * (NatsCluster) and PostgreSQL (TestDatabase), under load (appends running
 * the whole time): the consumer's leader is SIGKILLed mid-consume, then all
 * three nodes are restarted one after the other (a rolling restart, each
 * node caught up before the next). Nothing is lost, nothing is applied
 * twice, the runner never stops.
 *
 * Every assertion is an exact count; every wait is bounded.
 */
import { NatsCluster, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { Inbox, InboxSql, InboxStore } from "@herald/inbox"
import { EventLog, Topology } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { applied, bump, createCounter, envelope, range, report, storedIds, transportOn, unique } from "./helpers.ts"

const { bounded, until, whileRunning } = Wait

const Env = Layer.mergeAll(
  TestDatabase.layerPg({ maxConnections: 16 }),
  Layer.unwrap(NatsCluster.NatsCluster.useSync((cluster) => transportOn(cluster, "consumer-failover"))).pipe(
    Layer.provideMerge(NatsCluster.layer())
  )
)

describe("a durable consumer across failover", () => {
  it.live(
    "at least 6,000 messages appended under load; the consumer leader SIGKILLed, then a rolling restart of all three nodes: each applied exactly once",
    () => {
      const t = unique("cf")
      return Effect.scoped(Effect.gen(function*() {
        const MIN = 6_000
        const started = Date.now()
        const cluster = yield* NatsCluster.NatsCluster
        const log = yield* EventLog.EventLog
        yield* Topology.ensure({
          streams: [{ name: t.stream, subjects: [`${t.subject}.>`], replicas: 3 }, Topology.deadLetterStream()],
          consumers: [{ stream: t.stream, name: t.consumer, ackWait: "5 seconds" }]
        })
        yield* createCounter(t.counter)
        const store = yield* InboxSql.make({ table: t.inbox })
        const seen = { deliveries: 0, redelivered: 0, duplicates: 0 }
        const guarded = Inbox.middleware({ onDuplicate: () => Effect.sync(() => void seen.duplicates++) })(
          (d: EventLog.Delivery) => bump(t.counter, d.envelope.identity.messageId)
        )
        const handle = yield* log.consume(t.stream, t.consumer, (d) =>
          Effect.suspend(() => {
            seen.deliveries++
            if (d.deliveryCount > 1) seen.redelivered++
            return guarded(d)
          }), { concurrency: 8 }).pipe(Effect.provideService(InboxStore.InboxStore, store))

        // The load: paced appends on 4 fibers the whole time, until the faults
        // are over and at least MIN were made (each retried with its message id
        // through the outages).
        let next = 0
        let appended = 0
        let faultsOver = false
        const failed: Array<string> = []
        const appender = Effect.gen(function*() {
          while (!faultsOver || next < MIN) {
            const n = ++next
            yield* log.append(`${t.subject}.m`, envelope(n)).pipe(
              Effect.match({ onFailure: (e) => void failed.push(`${n}: ${e.message}`), onSuccess: () => void appended++ })
            )
            yield* Effect.sleep("5 millis")
          }
        })
        const appending = yield* Effect.forkChild(
          Effect.all(Array.from({ length: 4 }, () => appender), { concurrency: "unbounded", discard: true })
        )
        const appliedAtLeast = (k: number, what: string) =>
          whileRunning(
            handle,
            until(applied(t.counter), (a) => a.distinct >= k, `${k} applied (${what})`, { bound: "90 seconds", interval: "100 millis" })
          )

        const faults: Array<string> = []
        // 1. SIGKILL the consumer's leader mid-consume; bring it back.
        yield* appliedAtLeast(1_000, "before the consumer leader is killed")
        const consumerLeader = yield* cluster.consumerLeaderOf(t.stream, t.consumer)
        yield* cluster.kill(consumerLeader)
        const newLeader = yield* cluster.consumerLeaderOf(t.stream, t.consumer)
        faults.push(`killed consumer leader n${consumerLeader} at appended ${appended}; new leader n${newLeader}`)
        yield* cluster.start(consumerLeader)

        // 2. A rolling restart: each node stopped, started, caught up, then the next.
        yield* appliedAtLeast(2_500, "before the rolling restart")
        for (const node of [0, 1, 2]) {
          yield* cluster.restart(node)
          faults.push(`restarted n${node} at appended ${appended}`)
        }
        yield* cluster.awaitHealthy()
        faultsOver = true

        yield* bounded(Fiber.join(appending), "120 seconds", () => `the appends (${appended} of ${next})`)
        const N = next
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
        const runner = yield* handle.stats
        yield* report(
          "consumer-failover",
          `faults: ${faults.join("; ")}; appended ${appended}, failed ${failed.length}; stream ${info.messages} ` +
            `messages, last sequence ${info.lastSequence}; deliveries ${seen.deliveries} (redelivered ` +
            `${seen.redelivered}), inbox duplicates skipped ${seen.duplicates}; runner ${JSON.stringify(runner)}; ` +
            `${Date.now() - started} ms`
        )

        assert.deepStrictEqual(failed, [], "no append failed")
        assert.strictEqual(appended, N)
        assert.isAtLeast(N, MIN)
        assert.deepStrictEqual([...new Set(ids)].sort(), range(1, N).map((n) => envelope(n).identity.messageId).sort())
        assert.strictEqual(ids.length, N, "messages in the stream")
        assert.strictEqual(new Set(ids).size, N, "distinct message ids in the stream")
        assert.strictEqual(info.messages, N)
        assert.deepStrictEqual(effects, { distinct: N, total: N, twice: 0 }, "each effect applied exactly once")
        assert.isTrue(Option.isNone(yield* Effect.timeoutOption(handle.await, "1 millis")), "the runner runs")
        assert.notStrictEqual((yield* handle.state)._tag, "Failed")
      })).pipe(Effect.provide(Env))
    },
    240_000
  )
})
