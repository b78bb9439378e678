/**
 * `LagMonitor` on nats-server: a durable consumer nobody runs falls behind,
 * the alert fires once; a real consumer runner catches up, the clear comes
 * once.
 */
import { assert, describe, layer } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { NatsServer, Wait } from "@herald/testing"
import { Bus, EventLog, Topology } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { LagMonitor } from "../src/index.ts"
import { envelope } from "./lagHelpers.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) =>
    NatsTransport.layer({ servers: server.url, name: "lag-monitor-test" }))
)

const env = Layer.mergeAll(Nats, IdGenerator.layer, Layer.sync(Metric.MetricRegistry)(() => new Map())).pipe(
  Layer.provideMerge(NatsServer.layer())
)

describe("LagMonitor on nats-server", () => {
  layer(env, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("the alert fires once while the consumer lags and clears once after a runner caught up", () =>
      Effect.gen(function*() {
        yield* Topology.ensure({
          streams: [{ name: "LAGGED", subjects: ["lagged.>"] }, Topology.deadLetterStream()],
          consumers: [{ stream: "LAGGED", name: "slow" }]
        })
        const log = yield* EventLog.EventLog
        const bus = yield* Bus.Bus
        const alerts: Array<{ readonly type: string; readonly payload: unknown }> = []
        const subscription = yield* bus.subscribe(LagMonitor.defaultSubject)
        yield* Effect.forkScoped(Stream.runForEach(subscription, (r) =>
          Effect.map(
            LagMonitor.ConsumerLagging.is(r.envelope)
              ? LagMonitor.ConsumerLagging.decode(r.envelope)
              : LagMonitor.ConsumerLagCleared.decode(r.envelope),
            (payload) => void alerts.push({ type: r.envelope.type, payload })
          )))
        yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => log.append(`lagged.${n}`, envelope(n)), { discard: true })
        const monitor = yield* LagMonitor.run({
          consumers: [{ stream: "LAGGED", consumer: "slow", threshold: { pending: 2 }, for: "1 second" }],
          schedule: Schedule.spaced("100 millis")
        })
        const state = Effect.map(monitor.state, (s) => s[0]!)
        yield* Wait.until(Effect.sync(() => alerts.length), (n) => n === 1, "the lagging alert", { bound: "20 seconds" })
        const lagging = yield* state
        assert.deepStrictEqual(alerts[0], {
          type: "herald.alert.ConsumerLagging",
          payload: {
            stream: "LAGGED",
            consumer: "slow",
            pending: 6,
            ackPending: 0,
            redelivered: 0,
            threshold: { pending: 2 },
            since: lagging.aboveSince!
          }
        })
        // A second of polls (ten or so) while it stays above: still one alert.
        const t1 = yield* Clock.currentTimeMillis
        yield* Wait.until(state, (s) => (s.readAt ?? 0) >= t1 + 1000, "a second of polls", { bound: "20 seconds" })
        assert.strictEqual(alerts.length, 1)
        // A real runner consumes everything: one clear.
        const handle = yield* log.consume("LAGGED", "slow", () => Effect.void)
        yield* Wait.until(handle.stats, (s) => s.acked === 6, "all six acked", { bound: "20 seconds" })
        yield* Wait.until(Effect.sync(() => alerts.length), (n) => n === 2, "the clear", { bound: "20 seconds" })
        assert.deepStrictEqual(alerts[1], {
          type: "herald.alert.ConsumerLagCleared",
          payload: {
            stream: "LAGGED",
            consumer: "slow",
            pending: 0,
            ackPending: 0,
            redelivered: 0,
            threshold: { pending: 2 },
            since: lagging.aboveSince!
          }
        })
        const t2 = yield* Clock.currentTimeMillis
        yield* Wait.until(state, (s) => (s.readAt ?? 0) >= t2 + 1000, "a second of polls after the clear", {
          bound: "20 seconds"
        })
        assert.strictEqual(alerts.length, 2)
        const last = yield* state
        assert.deepStrictEqual([last.alerting, last.alerts, last.failures], [false, 1, 0])
      }), { timeout: 60_000 })
  })
})
