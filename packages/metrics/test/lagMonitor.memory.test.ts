/**
 * `LagMonitor` on the memory transport under `TestClock`: lag is built by
 * appending to a stream whose durable consumer nobody consumes, and time is
 * moved poll by poll.
 */
import { assert, describe, it } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { MemoryTransport } from "@herald/testing"
import { Bus, EventLog, Topology } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { LagMonitor, MetricsError, Semconv } from "../src/index.ts"
import { envelope } from "./lagHelpers.ts"

const Live = Layer.mergeAll(MemoryTransport.layer, IdGenerator.layer)

/** Runs a test on a fresh transport, a fresh metric registry and its own scope. */
const fresh = <A, E>(
  self: Effect.Effect<A, E, EventLog.EventLog | Bus.Bus | Topology.Topology | IdGenerator.IdGenerator | Scope.Scope>
) =>
  self.pipe(
    Effect.scoped,
    Effect.provide(Live),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

const setup = Effect.gen(function*() {
  yield* Topology.ensure({
    streams: [{ name: "S", subjects: ["s.>"] }, { name: "ALERTS", subjects: ["herald.alert.>"] }],
    consumers: [{ stream: "S", name: "c" }, { stream: "S", name: "d" }]
  })
  return yield* EventLog.EventLog
})

let counter = 0
const appendN = (log: EventLog.EventLog["Service"], n: number) =>
  Effect.forEach(Array.from({ length: n }, () => ++counter), (i) => log.append(`s.${i}`, envelope(i)), {
    discard: true
  })

/** Pulls and acks the `n` messages the consumer has (all ready: the pull does not wait). */
const drain = (log: EventLog.EventLog["Service"], consumer: string, n: number) =>
  Effect.gen(function*() {
    const batch = yield* log.pull("S", consumer, { batch: n })
    assert.strictEqual(batch.length, n)
    yield* Effect.forEach(batch, (d) => d.ack, { discard: true })
  })

/** Lets the other fibers (the monitor, the alert subscriber) finish what is due. */
const settle = Effect.forEach(Array.from({ length: 50 }), () => Effect.yieldNow, { discard: true })

/** Moves the test clock by `seconds` and lets what became due run. */
const tick = (seconds: number) => Effect.andThen(TestClock.adjust(`${seconds} seconds`), settle)

interface Alert {
  readonly type: string
  readonly payload: unknown
}

/** Subscribes to the default alert subject; the array fills as alerts arrive. */
const subscribeAlerts = Effect.gen(function*() {
  const bus = yield* Bus.Bus
  const alerts: Array<Alert> = []
  const stream = yield* bus.subscribe(LagMonitor.defaultSubject)
  yield* Effect.forkScoped(Stream.runForEach(stream, (r) =>
    Effect.map(
      LagMonitor.ConsumerLagging.is(r.envelope)
        ? LagMonitor.ConsumerLagging.decode(r.envelope)
        : LagMonitor.ConsumerLagCleared.decode(r.envelope),
      (payload) => void alerts.push({ type: r.envelope.type, payload })
    )))
  yield* settle
  return alerts
})

const payload = (since: number, pending: number, threshold: LagMonitor.Threshold = { pending: 3 }) => ({
  stream: "S",
  consumer: "c",
  pending,
  ackPending: 0,
  redelivered: 0,
  threshold,
  since
})

const every10s = Schedule.spaced("10 seconds")

describe("LagMonitor on the memory transport", () => {
  it.effect("one alert after `for` above the threshold, none while it stays above, one clear, a second alert later", () =>
    fresh(Effect.gen(function*() {
      const log = yield* setup
      const alerts = yield* subscribeAlerts
      yield* appendN(log, 5)
      const t0 = yield* Clock.currentTimeMillis
      const monitor = yield* LagMonitor.run({
        consumers: [{ stream: "S", consumer: "c", threshold: { pending: 3 }, for: "30 seconds" }],
        schedule: every10s
      })
      yield* settle
      const state = Effect.map(monitor.state, (s) => s[0]!)
      // Polls at 0, 10, 20: above, but not for 30 seconds yet.
      yield* tick(10)
      yield* tick(10)
      assert.deepStrictEqual(alerts, [])
      const before = yield* state
      assert.strictEqual(before.aboveSince, t0)
      assert.isFalse(before.alerting)
      assert.strictEqual(before.lag?.pending, 5)
      // The poll at 30 has seen it above for 30 seconds.
      yield* tick(10)
      assert.deepStrictEqual(alerts, [{ type: "herald.alert.ConsumerLagging", payload: payload(t0, 5) }])
      assert.isTrue((yield* state).alerting)
      // Ten more minutes above, sixty polls: still one alert.
      for (let i = 0; i < 60; i++) yield* tick(10)
      assert.strictEqual(alerts.length, 1)
      assert.strictEqual((yield* state).alerts, 1)
      // Everything consumed: one clear at the next poll, and no other.
      yield* drain(log, "c", 5)
      yield* tick(10)
      assert.deepStrictEqual(alerts.slice(1), [{ type: "herald.alert.ConsumerLagCleared", payload: payload(t0, 0) }])
      for (let i = 0; i < 6; i++) yield* tick(10)
      assert.strictEqual(alerts.length, 2)
      const cleared = yield* state
      assert.isFalse(cleared.alerting)
      assert.strictEqual(cleared.aboveSince, undefined)
      // Above again: a second alert once it has stayed above for 30 seconds.
      yield* appendN(log, 4)
      yield* tick(10)
      const t1 = (yield* state).aboveSince!
      assert.strictEqual(t1, t0 + 710_000)
      yield* tick(10)
      yield* tick(10)
      assert.strictEqual(alerts.length, 2)
      yield* tick(10)
      assert.deepStrictEqual(alerts.slice(2), [{ type: "herald.alert.ConsumerLagging", payload: payload(t1, 4) }])
      for (let i = 0; i < 10; i++) yield* tick(10)
      assert.strictEqual(alerts.length, 3)
      const last = yield* state
      assert.strictEqual(last.alerts, 2)
      assert.strictEqual(last.failures, 0)
    })))

  it.effect("a poll at or below the threshold restarts the time above: no alert for two short runs", () =>
    fresh(Effect.gen(function*() {
      const log = yield* setup
      const alerts = yield* subscribeAlerts
      yield* appendN(log, 5)
      const monitor = yield* LagMonitor.run({
        consumers: [{ stream: "S", consumer: "c", threshold: { pending: 3 }, for: "30 seconds" }],
        schedule: every10s
      })
      yield* settle
      yield* tick(10)
      yield* tick(10) // above at 0, 10, 20
      yield* drain(log, "c", 5)
      yield* tick(10) // below at 30
      assert.strictEqual((yield* monitor.state)[0]!.aboveSince, undefined)
      yield* appendN(log, 5)
      yield* tick(10) // above at 40
      const since = (yield* monitor.state)[0]!.aboveSince!
      yield* tick(10)
      yield* tick(10) // 50, 60: 20 seconds above
      assert.deepStrictEqual(alerts, [])
      yield* tick(10) // 70: 30 seconds above
      assert.deepStrictEqual(alerts, [{ type: "herald.alert.ConsumerLagging", payload: payload(since, 5) }])
    })))

  it.effect("the ack-pending threshold, and a consumer under its threshold that never alerts", () =>
    fresh(Effect.gen(function*() {
      const log = yield* setup
      const alerts = yield* subscribeAlerts
      yield* appendN(log, 3)
      // Delivered and not acked: ack pending 3, pending 0.
      const pulled = yield* log.pull("S", "c", { batch: 3 })
      assert.strictEqual(pulled.length, 3)
      const monitor = yield* LagMonitor.run({
        consumers: [
          { stream: "S", consumer: "c", threshold: { ackPending: 2 }, for: "0 millis" },
          { stream: "S", consumer: "d", threshold: { pending: 10, ackPending: 10 }, for: "0 millis" }
        ],
        schedule: every10s
      })
      yield* settle
      const since = (yield* monitor.state)[0]!.aboveSince!
      assert.deepStrictEqual(alerts, [{
        type: "herald.alert.ConsumerLagging",
        payload: { ...payload(since, 0, { ackPending: 2 }), ackPending: 3 }
      }])
      yield* Effect.forEach(pulled, (d) => d.ack, { discard: true })
      yield* tick(10)
      assert.deepStrictEqual(alerts.slice(1), [{
        type: "herald.alert.ConsumerLagCleared",
        payload: payload(since, 0, { ackPending: 2 })
      }])
      const d = (yield* monitor.state)[1]!
      assert.deepStrictEqual([d.lag?.pending, d.alerting, d.alerts, d.aboveSince], [3, false, 0, undefined])
    })))

  it.effect("gauges: pending, ack pending and redelivered per stream and consumer, exact at each poll", () =>
    fresh(Effect.gen(function*() {
      const log = yield* setup
      yield* appendN(log, 7)
      yield* LagMonitor.run({
        consumers: [
          { stream: "S", consumer: "c", threshold: { pending: 100 }, for: "1 minute" },
          { stream: "S", consumer: "d", threshold: { pending: 100 }, for: "1 minute" }
        ],
        schedule: every10s
      })
      yield* settle
      const gauges = Effect.map(Metric.snapshot, (all) =>
        all
          .filter((m) => m.id.startsWith("herald.consumer.lag.") && m.type === "Gauge")
          .map((m) => ({
            id: m.id,
            stream: m.attributes?.[Semconv.Attributes.destination],
            consumer: m.attributes?.[Semconv.Attributes.consumerGroup],
            system: m.attributes?.[Semconv.Attributes.system],
            value: (m.state as Metric.GaugeState<number>).value
          }))
          .sort((a, b) => `${a.consumer}${a.id}`.localeCompare(`${b.consumer}${b.id}`)))
      const row = (id: string, consumer: string, value: number) => ({
        id,
        stream: "S",
        consumer,
        system: "nats",
        value
      })
      assert.deepStrictEqual(yield* gauges, [
        row("herald.consumer.lag.ack_pending", "c", 0),
        row("herald.consumer.lag.pending", "c", 7),
        row("herald.consumer.lag.redelivered", "c", 0),
        row("herald.consumer.lag.ack_pending", "d", 0),
        row("herald.consumer.lag.pending", "d", 7),
        row("herald.consumer.lag.redelivered", "d", 0)
      ])
      // c takes 4 and acks 2; d takes everything.
      const four = yield* log.pull("S", "c", { batch: 4 })
      yield* Effect.forEach(four.slice(0, 2), (d) => d.ack, { discard: true })
      yield* drain(log, "d", 7)
      yield* tick(10)
      assert.deepStrictEqual(yield* gauges, [
        row("herald.consumer.lag.ack_pending", "c", 2),
        row("herald.consumer.lag.pending", "c", 3),
        row("herald.consumer.lag.redelivered", "c", 0),
        row("herald.consumer.lag.ack_pending", "d", 0),
        row("herald.consumer.lag.pending", "d", 0),
        row("herald.consumer.lag.redelivered", "d", 0)
      ])
      // The two unacked are nak'd: redelivered when next pulled.
      yield* Effect.forEach(four.slice(2), (d) => d.nak(), { discard: true })
      const again = yield* log.pull("S", "c", { batch: 2 })
      assert.deepStrictEqual(again.map((d) => d.deliveryCount), [2, 2])
      yield* tick(10)
      const c = (yield* gauges).filter((g) => g.consumer === "c").map((g) => [g.id, g.value])
      assert.deepStrictEqual(c, [
        ["herald.consumer.lag.ack_pending", 2],
        ["herald.consumer.lag.pending", 3],
        ["herald.consumer.lag.redelivered", 2]
      ])
    })))

  it.effect("a failed read is logged and counted: the monitor goes on, and an alert is neither raised nor cleared by it", () =>
    fresh(Effect.gen(function*() {
      const log = yield* setup
      const topology = yield* Topology.Topology
      const alerts = yield* subscribeAlerts
      yield* appendN(log, 5)
      const monitor = yield* LagMonitor.run({
        consumers: [
          { stream: "S", consumer: "missing", threshold: { pending: 0 }, for: "0 millis" },
          { stream: "S", consumer: "c", threshold: { pending: 3 }, for: "0 millis" }
        ],
        schedule: every10s
      })
      yield* settle
      assert.strictEqual(alerts.length, 1)
      yield* tick(10)
      const [missing, c] = yield* monitor.state
      assert.deepStrictEqual([missing!.failures, missing!.alerting, missing!.lag, c!.failures], [2, false, undefined, 0])
      assert.isString(missing!.lastError)
      // The watched consumer is deleted while it alerts: no clear, the polls go on.
      yield* topology.deleteConsumer("S", "c")
      for (let i = 0; i < 5; i++) yield* tick(10)
      const after = (yield* monitor.state)[1]!
      assert.deepStrictEqual([after.failures, after.alerting, after.alerts], [5, true, 1])
      assert.strictEqual(alerts.length, 1)
      const failures = Effect.map(Metric.snapshot, (all) =>
        all
          .filter((m) => m.id === LagMonitor.readFailuresMetric)
          .map((m) => [m.attributes?.[Semconv.Attributes.consumerGroup], (m.state as Metric.CounterState<number>).count])
          .sort())
      assert.deepStrictEqual(yield* failures, [["c", 5], ["missing", 7]])
      // It comes back empty: one clear.
      yield* Topology.ensure({ streams: [], consumers: [{ stream: "S", name: "c", deliverPolicy: Topology.DeliverPolicy.new }] })
      yield* tick(10)
      assert.deepStrictEqual(alerts.map((a) => a.type), ["herald.alert.ConsumerLagging", "herald.alert.ConsumerLagCleared"])
      assert.strictEqual((yield* monitor.state)[1]!.lastError, undefined)
    })))

  it.effect("deliver: eventLog appends the alerts to the stream that captures the subject", () =>
    fresh(Effect.gen(function*() {
      const log = yield* setup
      yield* appendN(log, 2)
      const monitor = yield* LagMonitor.run({
        consumers: [{ stream: "S", consumer: "c", threshold: { pending: 1 }, for: "10 seconds" }],
        schedule: every10s,
        deliver: "eventLog",
        subject: "herald.alert.ops.lag"
      })
      yield* settle
      const stored = Effect.map(
        Stream.runCollect(log.read("ALERTS")),
        (all) => Array.from(all, (m) => [m.subject, m.envelope.type])
      )
      assert.deepStrictEqual(yield* stored, [])
      for (let i = 0; i < 5; i++) yield* tick(10)
      assert.deepStrictEqual(yield* stored, [["herald.alert.ops.lag", "herald.alert.ConsumerLagging"]])
      const first = yield* Stream.runCollect(log.read("ALERTS"))
      const since = (yield* monitor.state)[0]!.aboveSince!
      assert.deepStrictEqual(
        yield* LagMonitor.ConsumerLagging.decode(Array.from(first)[0]!.envelope),
        payload(since, 2, { pending: 1 })
      )
      yield* drain(log, "c", 2)
      for (let i = 0; i < 5; i++) yield* tick(10)
      assert.deepStrictEqual(yield* stored, [
        ["herald.alert.ops.lag", "herald.alert.ConsumerLagging"],
        ["herald.alert.ops.lag", "herald.alert.ConsumerLagCleared"]
      ])
    })))

  it.effect("the layer provides the state; invalid options are InvalidOptions before anything runs", () =>
    fresh(Effect.gen(function*() {
      yield* setup
      const states = yield* Effect.andThen(settle, LagMonitor.state).pipe(
        Effect.provide(LagMonitor.layer({
          consumers: [{ stream: "S", consumer: "c", threshold: { pending: 0 }, for: "1 minute" }]
        }))
      )
      assert.deepStrictEqual(states.map((s) => [s.stream, s.consumer, s.lag?.pending]), [["S", "c", 0]])
      const bad = (options: LagMonitor.Options) =>
        Effect.map(Effect.flip(LagMonitor.run(options)), (e) => [e.reason._tag, e.message])
      const watch = { stream: "S", consumer: "c", threshold: { pending: 1 }, for: "1 minute" } as const
      assert.deepStrictEqual(yield* bad({ consumers: [] }), [
        "InvalidOptions",
        "invalid metrics options: LagMonitor: consumers must list at least one consumer"
      ])
      assert.deepStrictEqual((yield* bad({ consumers: [{ ...watch, threshold: {} }] }))[1],
        "invalid metrics options: LagMonitor: S/c: the threshold needs pending or ackPending")
      assert.deepStrictEqual((yield* bad({ consumers: [{ ...watch, threshold: { pending: -1 } }] }))[1],
        "invalid metrics options: LagMonitor: S/c: threshold.pending must be a finite number >= 0")
      assert.deepStrictEqual((yield* bad({ consumers: [{ ...watch, threshold: { ackPending: Number.NaN } }] }))[1],
        "invalid metrics options: LagMonitor: S/c: threshold.ackPending must be a finite number >= 0")
      assert.match((yield* bad({ consumers: [{ ...watch, for: -5 }] }))[1]!, /S\/c: for must be a finite duration >= 0/)
      assert.deepStrictEqual((yield* bad({ consumers: [watch, watch] }))[1],
        "invalid metrics options: LagMonitor: S/c is listed twice")
      assert.deepStrictEqual((yield* bad({ consumers: [watch], subject: "herald.>" }))[1],
        "invalid metrics options: LagMonitor: subject \"herald.>\" is not a subject without wildcards")
      assert.isTrue(MetricsError.isMetricsError(yield* Effect.flip(LagMonitor.run({ consumers: [] }))))
    })))
})
