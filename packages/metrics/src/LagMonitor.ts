/**
 * The consumer lag monitor: polls the lag of the consumers it is given on a
 * `Schedule`, sets the lag gauges, and raises one alert when a consumer stays
 * above its threshold for a given time, and one more when it drops back.
 *
 * - Every poll reads `EventLog.lag(stream, consumer)` and sets
 *   `herald.consumer.lag.pending`, `.ack_pending` and `.redelivered` with
 *   `messaging.destination.name` = the stream and
 *   `messaging.consumer.group.name` = the consumer.
 * - A consumer is above its threshold when its pending count is above
 *   `threshold.pending`, or its ack-pending count above
 *   `threshold.ackPending`. When every poll for `for` has seen it above, one
 *   `herald.alert.ConsumerLagging` event is sent and a warning logged; no
 *   other alert follows while it stays above. The first poll that sees it at
 *   or below its threshold sends one `herald.alert.ConsumerLagCleared` event
 *   and logs it.
 * - A lag read that fails (the stream deleted, the consumer missing, a
 *   timeout) is logged and counted; it neither raises nor clears an alert,
 *   and the monitor keeps polling.
 * - Alerts go out with `Bus.publish` by default: core NATS, at most once, so
 *   an alert sent while nobody subscribes to the subject is lost. With
 *   `deliver: "eventLog"` they are appended to the stream that captures the
 *   subject (at least once; the stream must exist). An alert that cannot be
 *   sent is logged and sent again at the next poll that still warrants it.
 *
 * ```ts
 * const Monitor = LagMonitor.layer({
 *   consumers: [{ stream: "ORDERS", consumer: "billing", threshold: { pending: 1000 }, for: "1 minute" }]
 * })
 * ```
 *
 * @since 0.1.0
 */
import { IdGenerator } from "@herald/identity"
import { Bus, EventLog, Message, Millis } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Duration from "effect/Duration"
import * as Metrics from "./Metrics.ts"
import * as MetricsError from "./MetricsError.ts"
import * as Semconv from "./Semconv.ts"

/**
 * A threshold: a consumer is above it when any count given is exceeded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Threshold {
  /** Above when more than this many messages wait to be delivered. */
  readonly pending?: number | undefined
  /** Above when more than this many messages are delivered and not acknowledged. */
  readonly ackPending?: number | undefined
}

/**
 * A consumer to watch.
 *
 * @since 0.1.0
 * @category models
 */
export interface Watch {
  readonly stream: string
  readonly consumer: string
  /** At least one of its counts must be given. */
  readonly threshold: Threshold
  /** How long every poll must see the consumer above its threshold before it alerts. */
  readonly for: Duration.Input
}

/**
 * Options of {@link run} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The consumers to watch (at least one; each stream and consumer once). */
  readonly consumers: ReadonlyArray<Watch>
  /**
   * When to poll after the first poll, which runs at once (default
   * `Schedule.spaced("10 seconds")`). Driven by effect's `Clock`.
   */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** Where alerts are sent (default {@link defaultSubject}). */
  readonly subject?: string | undefined
  /**
   * How alerts are sent: `"bus"` (default) publishes on core NATS, at most
   * once; `"eventLog"` appends them to the stream that captures the subject.
   */
  readonly deliver?: "bus" | "eventLog" | undefined
}

/**
 * The default alert subject.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSubject = "herald.alert.consumer.lag"

/**
 * The metric counting lag reads that failed, by stream and consumer.
 *
 * @since 0.1.0
 * @category constants
 */
export const readFailuresMetric = "herald.consumer.lag.read_failures"

const ThresholdSchema = Schema.Struct({
  pending: Schema.optional(Schema.Number),
  ackPending: Schema.optional(Schema.Number)
})

/**
 * The alert sent when a consumer has stayed above its threshold for its
 * `for`. `since` is when the first poll of that run saw it above (Unix epoch
 * milliseconds).
 *
 * @since 0.1.0
 * @category alerts
 */
export const ConsumerLagging = Message.event(
  "herald.alert.ConsumerLagging",
  Schema.Struct({
    stream: Schema.String,
    consumer: Schema.String,
    pending: Schema.Number,
    ackPending: Schema.Number,
    redelivered: Schema.Number,
    threshold: ThresholdSchema,
    since: Schema.Number
  })
)

/**
 * The alert sent when a consumer that was alerting is seen at or below its
 * threshold. `since` is when it went above (Unix epoch milliseconds).
 *
 * @since 0.1.0
 * @category alerts
 */
export const ConsumerLagCleared = Message.event(
  "herald.alert.ConsumerLagCleared",
  Schema.Struct({
    stream: Schema.String,
    consumer: Schema.String,
    pending: Schema.Number,
    ackPending: Schema.Number,
    redelivered: Schema.Number,
    threshold: ThresholdSchema,
    since: Schema.Number
  })
)

/**
 * What the monitor knows of one consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerState {
  readonly stream: string
  readonly consumer: string
  readonly threshold: Threshold
  /** The last lag read, if any read succeeded. */
  readonly lag: EventLog.ConsumerLag | undefined
  /** When the last successful read was made (Unix epoch milliseconds). */
  readonly readAt: number | undefined
  /** When the current run above the threshold started, if it is above. */
  readonly aboveSince: number | undefined
  /** Whether a lagging alert was sent and not yet cleared. */
  readonly alerting: boolean
  /** Lagging alerts sent so far. */
  readonly alerts: number
  /** Lag reads that failed so far. */
  readonly failures: number
  /** The last failed read's error, cleared by a successful read. */
  readonly lastError: string | undefined
}

/**
 * A running lag monitor.
 *
 * @since 0.1.0
 * @category services
 */
export class LagMonitor extends Context.Service<LagMonitor, {
  /** Each watched consumer's state, in the order of the options. */
  readonly state: Effect.Effect<ReadonlyArray<ConsumerState>>
}>()("@herald/metrics/LagMonitor") {}

/**
 * The state of the monitor in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const state: Effect.Effect<ReadonlyArray<ConsumerState>, never, LagMonitor> = Effect.flatMap(
  LagMonitor,
  (m) => m.state
)

/**
 * Whether a consumer is above a threshold.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAbove = (lag: Pick<EventLog.ConsumerLag, "pending" | "ackPending">, threshold: Threshold): boolean =>
  (threshold.pending !== undefined && lag.pending > threshold.pending) ||
  (threshold.ackPending !== undefined && lag.ackPending > threshold.ackPending)

const invalid = (detail: string) =>
  MetricsError.make(new MetricsError.InvalidOptions({ detail: `LagMonitor: ${detail}` }))

const validCount = (u: unknown): boolean => typeof u === "number" && Number.isFinite(u) && u >= 0

interface Checked {
  readonly watch: Watch
  readonly forMillis: number
}

const check = (options: Options): Result.Result<ReadonlyArray<Checked>, MetricsError.MetricsError> => {
  if (!Array.isArray(options.consumers) || options.consumers.length === 0) {
    return Result.fail(invalid("consumers must list at least one consumer"))
  }
  if (options.subject !== undefined && (options.subject.length === 0 || /[\s*>]/.test(options.subject))) {
    return Result.fail(invalid(`subject ${JSON.stringify(options.subject)} is not a subject without wildcards`))
  }
  if (options.deliver !== undefined && options.deliver !== "bus" && options.deliver !== "eventLog") {
    return Result.fail(invalid(`deliver must be "bus" or "eventLog", got ${JSON.stringify(options.deliver)}`))
  }
  const seen = new Set<string>()
  const out: Array<Checked> = []
  for (const watch of options.consumers) {
    const name = `${watch.stream}/${watch.consumer}`
    if (typeof watch.stream !== "string" || watch.stream.length === 0) {
      return Result.fail(invalid("a watched consumer has no stream"))
    }
    if (typeof watch.consumer !== "string" || watch.consumer.length === 0) {
      return Result.fail(invalid(`a watched consumer of ${watch.stream} has no name`))
    }
    if (seen.has(name)) return Result.fail(invalid(`${name} is listed twice`))
    seen.add(name)
    const t = watch.threshold
    if (t === undefined || (t.pending === undefined && t.ackPending === undefined)) {
      return Result.fail(invalid(`${name}: the threshold needs pending or ackPending`))
    }
    if (t.pending !== undefined && !validCount(t.pending)) {
      return Result.fail(invalid(`${name}: threshold.pending must be a finite number >= 0`))
    }
    if (t.ackPending !== undefined && !validCount(t.ackPending)) {
      return Result.fail(invalid(`${name}: threshold.ackPending must be a finite number >= 0`))
    }
    const forMillis = Millis.decode(watch.for)
    if (Result.isFailure(forMillis)) {
      return Result.fail(invalid(`${name}: for must be a finite duration >= 0: ${forMillis.failure.message}`))
    }
    out.push({ watch, forMillis: forMillis.success })
  }
  return Result.succeed(out)
}

// The gauges of `Metrics` (one definition: both set the same series).
const gauges = {
  pending: Metrics.metrics.lagPending,
  ackPending: Metrics.metrics.lagAckPending,
  redelivered: Metrics.metrics.lagRedelivered,
  readFailures: Metric.counter(readFailuresMetric, {
    description: "Consumer lag reads that failed.",
    incremental: true
  })
} as const

type Mutable = {
  -readonly [K in keyof ConsumerState]: ConsumerState[K]
}

/**
 * Starts the monitor in a fiber owned by the current scope: the first poll
 * runs at once, the next ones on `schedule`. Fails with `InvalidConfig` on
 * invalid options, before anything runs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  options: Options
): Effect.Effect<
  LagMonitor["Service"],
  MetricsError.MetricsError,
  EventLog.EventLog | Bus.Bus | IdGenerator.IdGenerator | Scope.Scope
> =>
  Effect.gen(function*() {
    const checked = check(options)
    if (Result.isFailure(checked)) return yield* Effect.fail(checked.failure)
    const watches = checked.success
    const log = yield* EventLog.EventLog
    const bus = yield* Bus.Bus
    const ids = yield* IdGenerator.IdGenerator
    const subject = options.subject ?? defaultSubject
    const deliver = options.deliver ?? "bus"
    const schedule = options.schedule ?? Schedule.spaced("10 seconds")

    const states: Array<Mutable> = watches.map(({ watch }) => ({
      stream: watch.stream,
      consumer: watch.consumer,
      threshold: { ...watch.threshold },
      lag: undefined,
      readAt: undefined,
      aboveSince: undefined,
      alerting: false,
      alerts: 0,
      failures: 0,
      lastError: undefined
    }))

    const send = (
      definition: typeof ConsumerLagging | typeof ConsumerLagCleared,
      s: Mutable,
      lag: EventLog.ConsumerLag,
      since: number
    ) =>
      Effect.gen(function*() {
        const envelope = yield* definition.root({
          stream: s.stream,
          consumer: s.consumer,
          pending: lag.pending,
          ackPending: lag.ackPending,
          redelivered: lag.redelivered,
          threshold: s.threshold,
          since
        })
        if (deliver === "eventLog") yield* log.append(subject, envelope)
        else yield* bus.publish(subject, envelope)
      }).pipe(Effect.provideService(IdGenerator.IdGenerator, ids))

    const pollOne = (w: Checked, s: Mutable) =>
      Effect.gen(function*() {
        const attributes = {
          [Semconv.Attributes.system]: Semconv.system,
          [Semconv.Attributes.destination]: s.stream,
          [Semconv.Attributes.consumerGroup]: s.consumer
        }
        const read = yield* Effect.result(log.lag(s.stream, s.consumer))
        if (Result.isFailure(read)) {
          s.failures++
          s.lastError = read.failure.message
          yield* Metric.update(Metric.withAttributes(gauges.readFailures, attributes), 1)
          return yield* Effect.logWarning(`lag monitor: lag of ${s.stream}/${s.consumer} not read: ${read.failure.message}`)
        }
        const lag = read.success
        const now = yield* Clock.currentTimeMillis
        s.lag = lag
        s.readAt = now
        s.lastError = undefined
        yield* Metric.update(Metric.withAttributes(gauges.pending, attributes), lag.pending)
        yield* Metric.update(Metric.withAttributes(gauges.ackPending, attributes), lag.ackPending)
        yield* Metric.update(Metric.withAttributes(gauges.redelivered, attributes), lag.redelivered)
        const counts = `pending ${lag.pending}, ack pending ${lag.ackPending}`
        if (isAbove(lag, s.threshold)) {
          const since = s.aboveSince ?? now
          s.aboveSince = since
          if (s.alerting || now - since < w.forMillis) return
          const sent = yield* Effect.result(send(ConsumerLagging, s, lag, since))
          if (Result.isFailure(sent)) {
            return yield* Effect.logWarning(
              `lag monitor: alert for ${s.stream}/${s.consumer} not sent (tried again at the next poll): ${sent.failure.message}`
            )
          }
          s.alerting = true
          s.alerts++
          return yield* Effect.logWarning(
            `lag monitor: ${s.stream}/${s.consumer} lagging since ${new Date(since).toISOString()} (${counts})`
          )
        }
        const since = s.aboveSince
        s.aboveSince = undefined
        if (!s.alerting || since === undefined) return
        const sent = yield* Effect.result(send(ConsumerLagCleared, s, lag, since))
        if (Result.isFailure(sent)) {
          s.aboveSince = since
          return yield* Effect.logWarning(
            `lag monitor: clear for ${s.stream}/${s.consumer} not sent (tried again at the next poll): ${sent.failure.message}`
          )
        }
        s.alerting = false
        yield* Effect.logInfo(`lag monitor: ${s.stream}/${s.consumer} no longer lagging (${counts})`)
      })

    const poll = Effect.forEach(watches, (w, i) => pollOne(w, states[i]!), { discard: true, concurrency: 8 })

    yield* Effect.forkScoped(Effect.repeat(poll, schedule))

    return LagMonitor.of({
      state: Effect.sync(() => states.map((s) => ({ ...s, threshold: { ...s.threshold } })))
    })
  })

/**
 * {@link run} as a layer: the monitor polls as long as the layer lives.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<LagMonitor, MetricsError.MetricsError, EventLog.EventLog | Bus.Bus | IdGenerator.IdGenerator> =>
  Layer.effect(LagMonitor, run(options))
