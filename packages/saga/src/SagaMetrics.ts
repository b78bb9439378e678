/**
 * `herald.saga.instances`: how many saga instances are in each status right
 * now, by saga, read from the `SagaStore` (`SagaStore.counts`), so that it
 * is right across processes and restarts.
 *
 * {@link refresh} reads the counts once and sets the gauge; {@link layer}
 * refreshes when it starts and then on a schedule. To refresh at scrape
 * time, hand `SagaMetrics.refresh` to `@herald/metrics`' `MetricsHttp`
 * (its `refresh` option):
 *
 * ```ts
 * import { MetricsHttp } from "@herald/metrics"
 * import { SagaMetrics } from "@herald/saga"
 *
 * const server = MetricsHttp.layer({ port: 9464, refresh: [SagaMetrics.refresh] })
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as SagaError from "./SagaError.ts"
import * as SagaStore from "./SagaStore.ts"

/**
 * `herald.saga.instances`: instances by `herald.saga.name` and
 * `herald.saga.status` (the same attributes as `herald.saga.transitions`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const instances: Metric.Gauge<number> = Metric.gauge("herald.saga.instances", {
  description: "Saga instances in each status, by saga, as stored."
})

const nameAttribute = "herald.saga.name"
const statusAttribute = "herald.saga.status"

const set = (saga: string, status: string, value: number): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(instances, { [nameAttribute]: saga, [statusAttribute]: status }), value)

/**
 * Reads `SagaStore.counts` and sets `herald.saga.instances`: every status of
 * every saga that has an instance (0 for a status with none), and 0 for
 * every series the gauge had before and the counts no longer have (a saga
 * whose instances were all deleted reads 0, not its last value). A failed
 * read fails and leaves the gauge as it was.
 *
 * @since 0.1.0
 * @category metrics
 */
export const refresh: Effect.Effect<void, SagaError.SagaError, SagaStore.SagaStore> = Effect.gen(function*() {
  const store = yield* SagaStore.SagaStore
  const counts = yield* store.counts()
  const values = new Map<string, { readonly saga: string; readonly status: string; value: number }>()
  const keyOf = (saga: string, status: string) => `${saga}\u0000${status}`
  // The series set before, at 0 unless the counts say otherwise.
  for (const snapshot of yield* Metric.snapshot) {
    if (snapshot.id !== instances.id || snapshot.type !== "Gauge") continue
    const saga = snapshot.attributes?.[nameAttribute]
    const status = snapshot.attributes?.[statusAttribute]
    if (typeof saga === "string" && typeof status === "string") values.set(keyOf(saga, status), { saga, status, value: 0 })
  }
  for (const saga of new Set(counts.map((c) => c.saga))) {
    for (const status of SagaStore.statuses) values.set(keyOf(saga, status), { saga, status, value: 0 })
  }
  for (const c of counts) values.get(keyOf(c.saga, c.status))!.value = c.count
  yield* Effect.forEach(values.values(), (v) => set(v.saga, v.status, v.value), { discard: true })
})

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How often the counts are read (default 15 seconds); they are read once when the layer starts. */
  readonly interval?: Duration.Input | undefined
}

/**
 * Runs {@link refresh} when the layer starts and then every `interval`,
 * until its scope closes. A failed read is logged and leaves the gauge as it
 * was.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, never, SagaStore.SagaStore> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const read = Effect.catchCause(refresh, (cause) => Effect.logWarning("saga metrics: instance counts not read", cause))
    const interval = Duration.fromInputUnsafe(options?.interval ?? "15 seconds")
    yield* read
    yield* Effect.forkScoped(Effect.repeat(Effect.andThen(Effect.sleep(interval), read), Schedule.forever))
  }))
