/**
 * The cost of `@herald/metrics`: the same Herald rows with the `Metrics`
 * and `Tracing` layers on and off, in the same run, on the same
 * nats-server. In these rows the table's `raw` column is Herald with the
 * layers off and `herald` is Herald with them on, so `ratio` = on / off
 * (the goal: at least 0.9, at most 10 % slower).
 *
 * "On" is `Metrics.layer()` over `Tracing.layer()` over the run's own
 * `Bus` and `EventLog` (one connection for both sides), with effect's
 * default tracer (spans made and ended, exported nowhere: an exporter's
 * cost is the exporter's, not Herald's) and effect's metric registry
 * (what `/metrics` reads). Each run lasts at least `minMillis` (1 s).
 */
import { Metrics, Tracing } from "@herald/metrics"
import { Bus, EventLog } from "@herald/transport"
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type BenchContext, runTimeoutMillis, withinEffect } from "../context.ts"
import { envelope, envelopes } from "../fixtures.ts"
import { type Case, now } from "../harness.ts"

/** The least duration of one run of either side. */
const minMillis = Number(process.env["BENCH_OBSERVED_MIN_MS"] ?? "1000")

/** Which layers "on" means: `both` (default), or `metrics` or `tracing` alone (to tell their costs apart). */
const layers = process.env["BENCH_OBSERVED_LAYERS"] ?? "both"

interface Services {
  readonly bus: Bus.Bus["Service"]
  readonly eventLog: EventLog.EventLog["Service"]
}

/**
 * The run's Bus and EventLog, under `Metrics.layer()` and `Tracing.layer()`
 * when `on`; built in the caller's scope (before the timed part), so their
 * fibers end with the run.
 */
const sideOf = (ctx: BenchContext, on: boolean): Effect.Effect<Services, never, Scope.Scope> => {
  if (!on) return Effect.succeed({ bus: ctx.bus, eventLog: ctx.eventLog })
  const base = Layer.succeedContext(Context.make(Bus.Bus, ctx.bus).pipe(Context.add(EventLog.EventLog, ctx.eventLog)))
  const traced = layers === "metrics" ? base : Tracing.layer().pipe(Layer.provide(base))
  return Effect.map(
    Effect.orDie(Layer.build(layers === "tracing" ? traced : Metrics.layer().pipe(Layer.provide(traced)))),
    (built) => ({ bus: Context.get(built, Bus.Bus), eventLog: Context.get(built, EventLog.EventLog) })
  )
}

/**
 * Core publish + subscribe: batches of `batch` publishes until `minMillis`
 * passed, timed until the subscriber has received every message.
 */
export const publish = (ctx: BenchContext): Case => {
  const batch = 10_000
  const event = envelope("event")
  const indexes = Array.from({ length: batch }, (_, i) => i)
  const run = (on: boolean) => (run: number) =>
    Effect.scoped(Effect.gen(function*() {
      const { bus } = yield* sideOf(ctx, on)
      const subject = `bench.observed.${on ? "on" : "off"}.${run}`
      let received = 0
      const stream = yield* bus.subscribe(subject)
      const reader = yield* Effect.forkScoped(Stream.runForEach(stream, () => Effect.sync(() => void received++)))
      const t0 = now()
      let sent = 0
      while (now() - t0 < minMillis) {
        yield* Effect.forEach(indexes, () => bus.publish(subject, event), { discard: true })
        sent += batch
      }
      while (received < sent) yield* Effect.sleep(1)
      const t1 = now()
      yield* Fiber.interrupt(reader)
      return { rate: sent / ((t1 - t0) / 1000) }
    })).pipe(withinEffect(runTimeoutMillis, `observed publish run ${run} (${on ? "on" : "off"})`))
  return {
    title: `publish + subscribe, metrics and tracing off (raw column) and on (herald column), ≥ ${minMillis} ms a run`,
    raw: run(false),
    herald: run(true)
  }
}

/** The stream the observed consume rows read, filled once (not timed) through the traced EventLog inside a span. */
export const OBSERVED_STREAM = "BENCH_OBSERVED"

let filled = false

const fill = (ctx: BenchContext) =>
  Effect.scoped(Effect.gen(function*() {
    if (filled) return
    filled = true
    const n = ctx.sizes.observedConsume
    yield* Effect.promise(() =>
      ctx.jsm.streams.add({ name: OBSERVED_STREAM, subjects: ["bench.observed.log.>"], storage: ctx.storage })
    )
    // The producer traces too, as it would with the layers on: every message carries a traceparent.
    const { eventLog } = yield* sideOf(ctx, true)
    yield* Effect.forEach(envelopes(n), (e) => eventLog.append("bench.observed.log.orders", e), {
      concurrency: ctx.sizes.window,
      discard: true
    }).pipe(Effect.withSpan("bench fill"), Effect.orDie)
    const info = yield* Effect.promise(() => ctx.jsm.streams.info(OBSERVED_STREAM))
    if (info.state.messages !== n) {
      return yield* Effect.die(new Error(`observed stream: ${info.state.messages} stored, expected ${n}`))
    }
  }))

/**
 * `EventLog.consume` with a no-op handler at `concurrency` through a fresh
 * consumer, for `minMillis`: the rate is the acks confirmed / elapsed.
 */
export const consume = (ctx: BenchContext, concurrency: number): Case => {
  const run = (on: boolean) => (run: number) => {
    const name = `observed_${on ? "on" : "off"}_c${concurrency}_${run}`
    return Effect.scoped(Effect.gen(function*() {
      yield* fill(ctx)
      const { eventLog } = yield* sideOf(ctx, on)
      return yield* Effect.acquireUseRelease(
        Effect.promise(() =>
          ctx.jsm.consumers.add(OBSERVED_STREAM, {
            durable_name: name,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            max_ack_pending: 1_000,
            ack_wait: 30_000_000_000
          })
        ),
        () =>
          Effect.scoped(Effect.gen(function*() {
            const t0 = now()
            const handle = yield* eventLog.consume(OBSERVED_STREAM, name, () => Effect.void, { concurrency })
            while (now() - t0 < minMillis) yield* Effect.sleep(1)
            const { acked } = yield* handle.stats
            const t1 = now()
            if (acked >= ctx.sizes.observedConsume) {
              return yield* Effect.die(new Error(`observed consume: the stream ran out (${acked} acked); raise BENCH_SCALE`))
            }
            return { rate: acked / ((t1 - t0) / 1000) }
          })),
        () => Effect.promise(() => ctx.jsm.consumers.delete(OBSERVED_STREAM, name))
      )
    })).pipe(withinEffect(runTimeoutMillis, `observed consume run ${run} (${on ? "on" : "off"})`))
  }
  return {
    title: `consume + ack, concurrency ${concurrency}, metrics and tracing off (raw column) and on (herald column), ${minMillis} ms a run`,
    raw: run(false),
    herald: run(true)
  }
}
