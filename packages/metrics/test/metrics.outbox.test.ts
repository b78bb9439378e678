/**
 * The outbox gauges under `TestClock`: read at start, then every interval;
 * a failed read keeps the last values.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/testing/TestClock"
import { Metrics } from "../src/index.ts"
import { parse, total } from "./workload.ts"

describe("Metrics.layerOutbox", () => {
  it.effect("sets pending and the oldest age (seconds) at start and at every interval; a failed read keeps them", () =>
    Effect.gen(function*() {
      const registry: Metric.MetricRegistry = new Map()
      const status = yield* Ref.make<Metrics.OutboxStatus | "unreachable">({ pending: 3, oldestPendingAgeMillis: 1_500 })
      const reads = yield* Ref.make(0)
      const read = Effect.andThen(
        Ref.update(reads, (n) => n + 1),
        Effect.flatMap(Ref.get(status), (s) => s === "unreachable" ? Effect.fail("unreachable" as const) : Effect.succeed(s))
      )
      yield* Layer.build(
        Metrics.layerOutbox({ status: read, interval: "10 seconds", attributes: { "herald.outbox.table": "outbox" } }).pipe(
          Layer.provide(Layer.succeed(Metric.MetricRegistry)(registry))
        )
      )
      const gauges = Effect.map(
        Effect.provideService(PrometheusMetrics.format(), Metric.MetricRegistry, registry),
        (text) => {
          const samples = parse(text)
          const where = { messaging_system: "nats", herald_outbox_table: "outbox" }
          return [total(samples, "herald_outbox_pending", where), total(samples, "herald_outbox_oldest_age", where)]
        }
      )
      assert.deepStrictEqual(yield* gauges, [3, 1.5])
      assert.strictEqual(yield* Ref.get(reads), 1)
      yield* Ref.set(status, { pending: 0, oldestPendingAgeMillis: 0 })
      yield* TestClock.adjust("9 seconds")
      assert.deepStrictEqual(yield* gauges, [3, 1.5])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* gauges, [0, 0])
      yield* Ref.set(status, "unreachable")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Ref.get(reads), 3)
      assert.deepStrictEqual(yield* gauges, [0, 0])
      yield* Ref.set(status, { pending: 7, oldestPendingAgeMillis: 250 })
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* gauges, [7, 0.25])
    }).pipe(Effect.scoped))
})
