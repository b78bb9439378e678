/**
 * `SagaMetrics`: the `herald.saga.instances` gauge set from the store's
 * counts (`SagaQuery.counts`), by `refresh` and by the layer on its interval.
 */
import { MemoryTransport, Wait } from "@herald/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/testing/TestClock"
import { SagaMemory, SagaMetrics, SagaQuery, SagaStore } from "../src/index.ts"

const Live = SagaMemory.layer.pipe(
  Layer.provideMerge(MemoryTransport.layer),
  Layer.provideMerge(Layer.sync(Metric.MetricRegistry)(() => new Map()))
)

let n = 0
const commit = (saga: string, id: string, expectedVersion: number, status: SagaStore.Status) =>
  Effect.flatMap(Effect.service(SagaStore.SagaStore), (store) => {
    n++
    return store.commit({
      saga,
      id,
      expectedVersion,
      status,
      state: {},
      failure: undefined,
      now: n,
      trigger: { messageId: `m-${n}`, type: "test.Trigger", subject: "in.x", stream: undefined, streamSequence: undefined },
      outgoing: [],
      cancel: [],
      schedule: [],
      fired: undefined
    })
  }).pipe(Effect.map((r) => assert.strictEqual(r, "committed")))

/** The gauge's series, as `saga status value`, sorted. */
const gauge = Effect.map(Metric.snapshot, (snapshots) =>
  snapshots
    .filter((s) => s.id === "herald.saga.instances" && s.type === "Gauge")
    .map((s) =>
      `${String(s.attributes?.["herald.saga.name"])} ${String(s.attributes?.["herald.saga.status"])} ${
        (s.state as Metric.GaugeState<number>).value
      }`
    )
    .sort())

const allOf = (saga: string, values: Partial<Record<SagaStore.Status, number>>) =>
  SagaStore.statuses.map((status) => `${saga} ${status} ${values[status] ?? 0}`).sort()

describe("SagaMetrics", () => {
  it.effect("refresh sets every status of every saga stored, and 0 for what is no longer stored", () =>
    Effect.gen(function*() {
      yield* SagaMetrics.refresh
      assert.deepStrictEqual(yield* gauge, [])
      yield* commit("a", "1", 0, "running")
      yield* commit("a", "2", 0, "running")
      yield* commit("b", "1", 0, "completed")
      assert.deepStrictEqual(yield* SagaQuery.counts(), [
        { saga: "a", status: "running", count: 2 },
        { saga: "b", status: "completed", count: 1 }
      ])
      assert.deepStrictEqual(yield* SagaQuery.counts("b"), [{ saga: "b", status: "completed", count: 1 }])
      yield* SagaMetrics.refresh
      assert.deepStrictEqual(yield* gauge, [...allOf("a", { running: 2 }), ...allOf("b", { completed: 1 })].sort())
      yield* commit("a", "1", 1, "compensating")
      const store = yield* SagaStore.SagaStore
      assert.strictEqual(yield* store.deleteFinished(Number.MAX_SAFE_INTEGER), 1)
      yield* SagaMetrics.refresh
      assert.deepStrictEqual(yield* gauge, [...allOf("a", { running: 1, compensating: 1 }), ...allOf("b", {})].sort())
    }).pipe(Effect.provide(Live)))

  it.effect("the layer refreshes when it starts and then every interval", () =>
    Effect.gen(function*() {
      yield* commit("a", "1", 0, "running")
      yield* Layer.build(SagaMetrics.layer({ interval: "1 minute" }))
      assert.deepStrictEqual(yield* gauge, allOf("a", { running: 1 }))
      yield* commit("a", "1", 1, "completed")
      // Not read again before the interval.
      assert.deepStrictEqual(yield* gauge, allOf("a", { running: 1 }))
      yield* TestClock.adjust("1 minute")
      yield* Wait.until(gauge, (g) => g.includes("a completed 1"), "the gauge read again", {
        advance: TestClock.adjust,
        bound: "10 minutes"
      })
      assert.deepStrictEqual(yield* gauge, allOf("a", { completed: 1 }))
    }).pipe(Effect.scoped, Effect.provide(Live)))
})
