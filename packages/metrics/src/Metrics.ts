/**
 * Metrics over `Bus` and `EventLog`, named and attributed by the
 * OpenTelemetry messaging conventions (see `Semconv`), on every transport:
 * one decorator layer reads the transport's `Bus` and `EventLog` and
 * provides instrumented ones.
 *
 * ```ts
 * import { Metrics } from "@herald/metrics"
 * import { NatsTransport } from "@herald/transport-nats"
 * import * as Layer from "effect/Layer"
 *
 * declare const app: Layer.Layer<never, never, import("@herald/transport").Bus.Bus>
 *
 * const main = app.pipe(
 *   Layer.provide(Metrics.layer({ destinations: ["orders.*.placed"] })),
 *   Layer.provide(NatsTransport.layer({ servers: "nats://127.0.0.1:4222", name: "orders" }))
 * )
 * ```
 *
 * What is counted:
 *
 * - `messaging.client.sent.messages` and `messaging.client.operation.duration`
 *   (seconds) for `publish`, `publishRaw`, `request`, `append`, `appendRaw`
 *   (operation type `send`) and `pull` (`receive`), with `error.type` on a
 *   failure;
 * - `messaging.client.consumed.messages` for each message a subscription
 *   emits (`receive`), each delivery `pull` returns (`receive`), and each
 *   delivery or request a `consume` or `serve` handler has finished with
 *   (`process`, with `error.type` when the handler failed);
 *   `messaging.process.duration` (seconds) times those handlers;
 * - `herald.redeliveries` (deliveries with a delivery count above 1) and the
 *   `herald.delivery.count` histogram, for every delivery handed to a
 *   handler or returned by `pull`;
 * - `herald.dead_letters` (by `herald.dead_letter.reason` kind),
 *   `herald.handler.deadline_exceeded` and the consumer lag gauges
 *   (`herald.consumer.lag.pending`, `.ack_pending`, `.redelivered`) for the
 *   consumers run by `consume`.
 *
 * Destinations are bounded (`messaging.destination.name`): the stream for
 * `append`, `pull` and `consume`; the subscription's pattern for `subscribe`
 * and `serve`; for `publish`, `request` and a failed `append`, the first of
 * the `destinations` option's patterns that matches the subject, else
 * `(other)`. A raw subject is never a label.
 *
 * Dead letters and deadline hits are settled by the consume runner after the
 * handler returns, so they are read from the runner's `stats`: the
 * `Collector`'s `refresh` adds what each running consumer's counts grew by
 * since the last refresh and reads its lag. `MetricsHttp` refreshes before
 * every scrape, so the counts it serves are exact at scrape time; the layer
 * also refreshes every `refreshInterval` (default 15 seconds) for other
 * exporters, and once more when a consumer's scope closes, after its runner
 * stopped. The kind of a dead letter is predicted when its handler fails by
 * the same policy the runner applies (`ConsumerPolicy.decide`, with the
 * consumer's `maxDeliver` read from `Topology` when the context has one):
 * `non_retryable`, `max_deliver`; a dead letter no handler failure predicted
 * (an undecodable message, a handler interrupted at its deadline on the last
 * delivery, or a failure on the last delivery when `maxDeliver` is unknown)
 * is `other`. The total is the runner's count; only the split by kind rests
 * on the prediction (when a dead letter cannot be stored and the message is
 * nak'd instead, a later dead letter takes the kind predicted for it).
 *
 * @since 0.1.0
 */
import { SubjectPattern } from "@herald/subject"
import { Bus, ConsumerPolicy, EventLog, Topology, TransportError } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as MetricsError from "./MetricsError.ts"
import * as Semconv from "./Semconv.ts"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Subject patterns naming the destinations of `publish` and `request` (and
   * of an `append` that failed before a stream answered): a subject is
   * counted under the first pattern that matches it, else under `(other)`.
   * An invalid pattern fails the layer with `MetricsError` `InvalidOptions`.
   */
  readonly destinations?: ReadonlyArray<string> | undefined
  /** Whether a refresh reads the lag of the consumers being run (default `true`). */
  readonly lag?: boolean | undefined
  /** How often the layer refreshes the counts read from consumers (default 15 seconds; `"none"`: only on demand). */
  readonly refreshInterval?: Duration.Input | "none" | undefined
}

/**
 * Keeps the counts that consume runners settle after their handlers
 * returned (dead letters, deadline hits) and the consumer lag up to date.
 *
 * @since 0.1.0
 * @category services
 */
export class Collector extends Context.Service<Collector, {
  /** Adds what every running consumer's counts grew by since the last refresh, and sets the lag gauges. */
  readonly refresh: Effect.Effect<void>
  /** The consumers being run through the instrumented `EventLog` (from when `consume` returned until their scope closes). */
  readonly consumers: Effect.Effect<ReadonlyArray<RunningConsumer>>
}>()("@herald/metrics/Collector") {}

/**
 * A consumer run by `consume` of the instrumented `EventLog`, with its handle.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunningConsumer {
  readonly stream: string
  readonly consumer: string
  readonly handle: EventLog.ConsumerHandle
}

/**
 * The destination of a subject no `destinations` pattern matches.
 *
 * @since 0.1.0
 * @category constants
 */
export const otherDestination = "(other)"

/**
 * The kind of a dead letter (`herald.dead_letter.reason`).
 *
 * @since 0.1.0
 * @category models
 */
export type DeadLetterKind = "non_retryable" | "max_deliver" | "other"

/**
 * The `error.type` of a failure value: a Herald error's reason tag
 * (`Timeout`, `NoResponders`, …), another tagged value's tag, an `Error`'s
 * name, else `unknown`. Bounded by the application's error types.
 *
 * @since 0.1.0
 * @category utils
 */
export const errorType = (u: unknown): string => {
  if (TransportError.isTransportError(u)) return u.reason._tag
  if (Predicate.hasProperty(u, "_tag") && typeof u._tag === "string") return u._tag
  if (u instanceof Error) return u.name
  return "unknown"
}

/**
 * The `error.type` of a failed effect's cause: its typed failure's
 * (see {@link errorType}), `interrupted` for an interruption, `defect` for a
 * defect.
 *
 * @since 0.1.0
 * @category utils
 */
export const errorTypeOfCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.findError(cause)
  if (Result.isSuccess(failure)) return errorType(failure.success)
  return Cause.hasInterruptsOnly(cause) ? "interrupted" : "defect"
}

/**
 * The boundaries (seconds) of the duration histograms: the OpenTelemetry
 * messaging conventions' recommendation.
 *
 * @since 0.1.0
 * @category constants
 */
export const durationBoundaries: ReadonlyArray<number> = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10
]

/**
 * The boundaries of the delivery count histogram.
 *
 * @since 0.1.0
 * @category constants
 */
export const deliveryCountBoundaries: ReadonlyArray<number> = [1, 2, 3, 5, 10, 20, 50]

/**
 * The metrics themselves, without attributes (each update adds its own).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  sentMessages: Metric.counter(Semconv.Metrics.sentMessages, {
    description: "Messages sent (publish, request, append).",
    incremental: true
  }),
  consumedMessages: Metric.counter(Semconv.Metrics.consumedMessages, {
    description: "Messages received or processed (subscribe, pull, consume, serve).",
    incremental: true
  }),
  operationDuration: Metric.histogram(Semconv.Metrics.operationDuration, {
    description: "Duration of a client operation, in seconds.",
    boundaries: durationBoundaries
  }),
  processDuration: Metric.histogram(Semconv.Metrics.processDuration, {
    description: "Duration of a handler processing a message, in seconds.",
    boundaries: durationBoundaries
  }),
  deadLetters: Metric.counter(Semconv.Metrics.deadLetters, {
    description: "Messages dead-lettered by a consume runner, by reason kind.",
    incremental: true
  }),
  redeliveries: Metric.counter(Semconv.Metrics.redeliveries, {
    description: "Deliveries of a message that was delivered before (delivery count above 1).",
    incremental: true
  }),
  deliveryCount: Metric.histogram(Semconv.Metrics.deliveryCount, {
    description: "The delivery count of each delivery.",
    boundaries: deliveryCountBoundaries
  }),
  handlerDeadline: Metric.counter(Semconv.Metrics.handlerDeadline, {
    description: "Handlers interrupted at their deadline.",
    incremental: true
  }),
  lagPending: Metric.gauge(Semconv.Metrics.lagPending, {
    description: "Messages not yet delivered to the consumer."
  }),
  lagAckPending: Metric.gauge(Semconv.Metrics.lagAckPending, {
    description: "Messages delivered to the consumer and not yet acknowledged."
  }),
  lagRedelivered: Metric.gauge(Semconv.Metrics.lagRedelivered, {
    description: "Messages being redelivered to the consumer."
  })
} as const

type Attrs = Record<string, string>

/**
 * Records one value of a metric with attributes.
 *
 * @since 0.1.0
 * @category models
 */
export type Recorder = (
  metric: Metric.Metric<number, unknown>,
  attributes: Readonly<Record<string, string>>,
  value: number
) => void

/**
 * A {@link Recorder} that updates metrics in the registry of `context` (the
 * one the layer was built with), synchronously.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRecorder = (context: Context.Context<never>): Recorder => {
  // By the attributes object (the layers reuse one object per series), then by their content.
  const byObject = new WeakMap<object, Map<string, Metric.Metric<number, unknown>>>()
  const byKey = new Map<string, Metric.Metric<number, unknown>>()
  const withAttrs = (
    metric: Metric.Metric<number, unknown>,
    attrs: Readonly<Record<string, string>>
  ): Metric.Metric<number, unknown> => {
    let perMetric = byObject.get(attrs)
    if (perMetric === undefined) {
      perMetric = new Map()
      byObject.set(attrs, perMetric)
    }
    let found = perMetric.get(metric.id)
    if (found === undefined) {
      const key = metric.id + "\u0000" + JSON.stringify(attrs)
      found = byKey.get(key)
      if (found === undefined) {
        found = Metric.withAttributes(metric, attrs)
        if (byKey.size > 10_000) byKey.clear()
        byKey.set(key, found)
      }
      perMetric.set(metric.id, found)
    }
    return found
  }
  return (metric, attrs, value) => {
    withAttrs(metric, attrs).updateUnsafe(value, context)
  }
}

/** A bounded memo: cleared when it grows past 10,000 entries (keys such as subjects may not be bounded). */
const memo = <V>(make: (key: string) => V): (key: string) => V => {
  const cache = new Map<string, V>()
  return (key) => {
    let v = cache.get(key)
    if (v === undefined) {
      v = make(key)
      if (cache.size > 10_000) cache.clear()
      cache.set(key, v)
    }
    return v
  }
}

const attrsMemo = memo((key): Attrs => {
  const [operationType, operationName, destination, group] = key.split("\u0000") as [string, string, string, string]
  const a: Attrs = {
    [Semconv.Attributes.system]: Semconv.system,
    [Semconv.Attributes.operationType]: operationType,
    [Semconv.Attributes.operationName]: operationName,
    [Semconv.Attributes.destination]: destination
  }
  if (group !== "") a[Semconv.Attributes.consumerGroup] = group
  return a
})

/** The attributes of one series: one object per distinct value, so that the recorder finds it by identity. */
const attrs = (
  operationType: Semconv.OperationType,
  operationName: string,
  destination: string,
  group?: string | undefined
): Attrs => attrsMemo(`${operationType}\u0000${operationName}\u0000${destination}\u0000${group ?? ""}`)

const withErrorCache = new WeakMap<Attrs, Map<string, Attrs>>()

/** The attributes with `error.type`: one object per (series, type) as well (at most 1,000 types kept per series). */
const withError = (a: Attrs, type: string): Attrs => {
  let perType = withErrorCache.get(a)
  if (perType === undefined) {
    perType = new Map()
    withErrorCache.set(a, perType)
  }
  let found = perType.get(type)
  if (found === undefined) {
    found = { ...a, [Semconv.Attributes.errorType]: type }
    if (perType.size < 1_000) perType.set(type, found)
  }
  return found
}

const secondsSince = (start: bigint, end: bigint): number => Number(end - start) / 1e9

/**
 * Runs `self`, then counts it in `counter` (when given) and times it in
 * `histogram`, with `error.type` on a failure.
 */
const timed = <A, E, R>(
  record: Recorder,
  self: Effect.Effect<A, E, R>,
  histogram: Metric.Metric<number, unknown>,
  counter: Metric.Metric<number, unknown> | undefined,
  attributesOf: (exit: Exit.Exit<A, E>) => Attrs
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Clock.currentTimeNanos, (start) =>
    Effect.onExit(self, (exit) =>
      Effect.map(Clock.currentTimeNanos, (end) => {
        const base = attributesOf(exit)
        const a = Exit.isSuccess(exit) ? base : withError(base, errorTypeOfCause(exit.cause))
        record(histogram, a, secondsSince(start, end))
        if (counter !== undefined) record(counter, a, 1)
      })))

interface Tracked {
  readonly stream: string
  readonly consumer: string
  handle: EventLog.ConsumerHandle | undefined
  last: { deadLettered: number; timedOut: number }
  /** Dead-letter kinds predicted from handler failures, not yet matched with the runner's count. */
  readonly predicted: Array<DeadLetterKind>
}

const deadLetterKind = (
  error: unknown,
  deliveryCount: number,
  maxDeliver: number | undefined
): DeadLetterKind | undefined => {
  const decision = ConsumerPolicy.decide({ error, deliveryCount, maxDeliver, nakDelay: () => 0 })
  if (decision._tag === "Nak") return undefined
  return TransportError.isRetryable(error) ? "max_deliver" : "non_retryable"
}

/**
 * Compiles the `destinations` option (of {@link layer} and of `Tracing`):
 * a pattern that is not a valid subject pattern is a `MetricsError`
 * `InvalidOptions` naming it and saying why.
 *
 * @since 0.1.0
 * @category utils
 */
export const compileDestinations = (
  patterns: ReadonlyArray<string>
): Result.Result<ReadonlyArray<SubjectPattern.SubjectPattern>, MetricsError.MetricsError> => {
  const compiled: Array<SubjectPattern.SubjectPattern> = []
  for (const p of patterns) {
    const r = SubjectPattern.make(p)
    if (Result.isFailure(r)) {
      return Result.fail(MetricsError.make(
        new MetricsError.InvalidOptions({
          detail: `destinations: ${JSON.stringify(p)} is not a valid subject pattern: ${r.failure.message}`
        })
      ))
    }
    compiled.push(r.success)
  }
  return Result.succeed(compiled)
}

/**
 * The destination of a subject: the first pattern that matches it, else
 * {@link otherDestination}.
 *
 * @since 0.1.0
 * @category utils
 */
export const destinationOf = (patterns: ReadonlyArray<SubjectPattern.SubjectPattern>, subject: string): string => {
  for (const p of patterns) if (SubjectPattern.matches(p, subject)) return p
  return otherDestination
}

/**
 * Instruments a `Bus`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const instrumentBus = (
  bus: Bus.Bus["Service"],
  options: { readonly record: Recorder; readonly destinations: ReadonlyArray<SubjectPattern.SubjectPattern> }
): Bus.Bus["Service"] => {
  const { destinations, record } = options
  const m = metrics
  const publishAttrs = memo((subject) => attrs("send", "publish", destinationOf(destinations, subject)))
  const requestAttrs = memo((subject) => attrs("send", "request", destinationOf(destinations, subject)))
  const send = (operation: "publish" | "request", subject: string) => {
    const a = operation === "publish" ? publishAttrs(subject) : requestAttrs(subject)
    return () => a
  }
  return Bus.Bus.of({
    publish: (subject, envelope) =>
      timed(record, bus.publish(subject, envelope), m.operationDuration, m.sentMessages, send("publish", subject)),
    publishRaw: (subject, message) =>
      timed(record, bus.publishRaw(subject, message), m.operationDuration, m.sentMessages, send("publish", subject)),
    request: (subject, envelope, requestOptions) =>
      timed(
        record,
        bus.request(subject, envelope, requestOptions),
        m.operationDuration,
        m.sentMessages,
        send("request", subject)
      ),
    subscribe: (pattern, subscribeOptions) =>
      Effect.map(bus.subscribe(pattern, subscribeOptions), (stream) => {
        const a = attrs("receive", "subscribe", pattern, subscribeOptions?.queue)
        return Stream.tap(stream, () => Effect.sync(() => record(m.consumedMessages, a, 1)))
      }),
    serve: (pattern, handler, serveOptions) => {
      const a = attrs("process", "serve", pattern, serveOptions?.queue)
      return bus.serve(
        pattern,
        (request) => timed(record, handler(request), m.processDuration, m.consumedMessages, () => a),
        serveOptions
      )
    }
  })
}

/**
 * Instruments an `EventLog`; the returned `refresh` adds the counts the
 * running consumers settled since the last refresh, and `consumers` lists
 * the consumers it runs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const instrumentEventLog = (
  log: EventLog.EventLog["Service"],
  options: {
    readonly record: Recorder
    readonly destinations: ReadonlyArray<SubjectPattern.SubjectPattern>
    readonly topology?: Topology.Topology["Service"] | undefined
    readonly lag?: boolean | undefined
  }
): {
  readonly eventLog: EventLog.EventLog["Service"]
  readonly refresh: Effect.Effect<void>
  readonly consumers: Effect.Effect<ReadonlyArray<RunningConsumer>>
} => {
  const { destinations, record } = options
  const m = metrics
  const tracked = new Set<Tracked>()

  const appendAttrs = (subject: string) => (exit: Exit.Exit<EventLog.AppendResult, unknown>) =>
    attrs("send", "append", Exit.isSuccess(exit) ? exit.value.stream : destinationOf(destinations, subject))

  const delivered = (d: EventLog.Delivery, a: Attrs) => {
    record(m.deliveryCount, a, d.deliveryCount)
    if (d.deliveryCount > 1) record(m.redeliveries, a, 1)
  }

  const sync = (t: Tracked): Effect.Effect<void> =>
    t.handle === undefined ? Effect.void : Effect.flatMap(t.handle.stats, (stats) =>
      Effect.sync(() => {
        const a = attrs("process", "consume", t.stream, t.consumer)
        // Refreshes may overlap (a scrape, the periodic one): each adds only
        // what grew past the highest count already added.
        const dl = stats.deadLettered - t.last.deadLettered
        for (let i = 0; i < dl; i++) {
          const kind = t.predicted.shift() ?? "other"
          record(m.deadLetters, { ...a, [Semconv.Attributes.reason]: kind }, 1)
        }
        const to = stats.timedOut - t.last.timedOut
        if (to > 0) record(m.handlerDeadline, a, to)
        t.last = {
          deadLettered: Math.max(stats.deadLettered, t.last.deadLettered),
          timedOut: Math.max(stats.timedOut, t.last.timedOut)
        }
      }))

  const readLag = (t: Tracked): Effect.Effect<void> =>
    Effect.matchEffect(log.lag(t.stream, t.consumer), {
      onFailure: (e) => Effect.logDebug(`metrics: lag of ${t.stream}/${t.consumer} not read: ${e.message}`),
      onSuccess: (lag) =>
        Effect.sync(() => {
          const a = {
            [Semconv.Attributes.system]: Semconv.system,
            [Semconv.Attributes.destination]: t.stream,
            [Semconv.Attributes.consumerGroup]: t.consumer
          }
          record(m.lagPending, a, lag.pending)
          record(m.lagAckPending, a, lag.ackPending)
          record(m.lagRedelivered, a, lag.redelivered)
        })
    })

  const refresh: Effect.Effect<void> = Effect.suspend(() => {
    const all = [...tracked]
    return Effect.forEach(all, (t) =>
      options.lag === false
        ? sync(t)
        : Effect.andThen(sync(t), Effect.timeoutOption(readLag(t), "5 seconds")), { discard: true, concurrency: 8 })
  })

  const eventLog = EventLog.EventLog.of({
    append: (subject, envelope, appendOptions) =>
      timed(
        record,
        log.append(subject, envelope, appendOptions),
        m.operationDuration,
        m.sentMessages,
        appendAttrs(subject)
      ),
    appendRaw: (subject, message, appendOptions) =>
      timed(
        record,
        log.appendRaw(subject, message, appendOptions),
        m.operationDuration,
        m.sentMessages,
        appendAttrs(subject)
      ),
    pull: (stream, consumer, pullOptions) => {
      const a = attrs("receive", "pull", stream, consumer)
      return timed(
        record,
        Effect.tap(log.pull(stream, consumer, pullOptions), (deliveries) =>
          Effect.sync(() => {
            for (const d of deliveries) {
              record(m.consumedMessages, a, 1)
              delivered(d, a)
            }
          })),
        m.operationDuration,
        undefined,
        () => a
      )
    },
    consume: (stream, consumer, handler, consumeOptions) =>
      Effect.gen(function*() {
        const maxDeliver = options.topology === undefined ? undefined : yield* options.topology
          .consumerConfig(stream, consumer).pipe(
            Effect.map((c) => c.maxDeliver),
            Effect.orElseSucceed(() => undefined)
          )
        const a = attrs("process", "consume", stream, consumer)
        const t: Tracked = {
          stream,
          consumer,
          handle: undefined,
          last: { deadLettered: 0, timedOut: 0 },
          predicted: []
        }
        // Added before the runner starts, so that it runs after the runner stopped.
        yield* Effect.addFinalizer(() => Effect.andThen(sync(t), Effect.sync(() => tracked.delete(t))))
        const wrapped = (d: EventLog.Delivery) =>
          Effect.suspend(() => {
            delivered(d, a)
            return timed(
            record,
            Effect.tapCause(handler(d), (cause) =>
              Effect.sync(() => {
                const failure = Cause.findError(cause)
                const kind = Result.isSuccess(failure)
                  ? deadLetterKind(failure.success, d.deliveryCount, maxDeliver)
                  : Cause.hasInterruptsOnly(cause)
                  ? undefined // interrupted at the deadline or at shutdown: settled by the runner as retryable
                  : deadLetterKind(
                    TransportError.make(new TransportError.HandlerFailed({ detail: "defect", retryable: true })),
                    d.deliveryCount,
                    maxDeliver
                  )
                if (kind !== undefined) t.predicted.push(kind)
              })),
            m.processDuration,
            m.consumedMessages,
            () => a
          )
          })
        const handle = yield* log.consume(stream, consumer, wrapped, consumeOptions)
        t.handle = handle
        tracked.add(t)
        return handle
      }),
    read: log.read,
    readRaw: log.readRaw,
    get: log.get,
    getRaw: log.getRaw,
    info: log.info,
    lag: log.lag
  })
  const consumers = Effect.sync(() => {
    const running: Array<RunningConsumer> = []
    for (const t of tracked) {
      if (t.handle !== undefined) running.push({ stream: t.stream, consumer: t.consumer, handle: t.handle })
    }
    return running
  })
  return { eventLog, refresh, consumers }
}

const resolveOptions = (options: Options | undefined) =>
  Effect.gen(function*() {
    const destinations = yield* Effect.fromResult(compileDestinations(options?.destinations ?? []))
    const context = yield* Effect.context<never>()
    return { destinations, record: makeRecorder(context) }
  })

/**
 * Instruments the context's `Bus` only (a service without JetStream).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerBus = (
  options?: Options
): Layer.Layer<Bus.Bus, MetricsError.MetricsError, Bus.Bus> =>
  Layer.effect(Bus.Bus)(Effect.gen(function*() {
    const bus = yield* Bus.Bus
    const resolved = yield* resolveOptions(options)
    return instrumentBus(bus, resolved)
  }))

/**
 * Instruments the context's `EventLog` only, and provides its `Collector`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEventLog = (
  options?: Options
): Layer.Layer<EventLog.EventLog | Collector, MetricsError.MetricsError, EventLog.EventLog> =>
  Layer.effectContext(Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    const topology = yield* Effect.serviceOption(Topology.Topology)
    const resolved = yield* resolveOptions(options)
    const { consumers, eventLog, refresh } = instrumentEventLog(log, {
      ...resolved,
      topology: Option.getOrUndefined(topology),
      lag: options?.lag
    })
    const interval = options?.refreshInterval ?? "15 seconds"
    if (interval !== "none") {
      yield* Effect.forkScoped(Effect.repeat(refresh, Schedule.spaced(Duration.fromInputUnsafe(interval))))
    }
    return Context.make(EventLog.EventLog, eventLog).pipe(Context.add(Collector, Collector.of({ refresh, consumers })))
  }))

/**
 * Instruments the context's `Bus` and `EventLog`: provide it between the
 * application and the transport.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Bus.Bus | EventLog.EventLog | Collector, MetricsError.MetricsError, Bus.Bus | EventLog.EventLog> =>
  Layer.merge(layerBus(options), layerEventLog(options))

/**
 * Refreshes the counts read from consumers, when the context has a
 * `Collector` (does nothing otherwise).
 *
 * @since 0.1.0
 * @category collecting
 */
export const refresh: Effect.Effect<void> = Effect.flatMap(
  Effect.serviceOption(Collector),
  Option.match({ onNone: () => Effect.void, onSome: (c) => c.refresh })
)

/**
 * What {@link layerOutbox} reads: the part of `Outbox.status` (of
 * `@herald/outbox`) it needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxStatus {
  /** Messages not yet sent. */
  readonly pending: number
  /** How long the oldest pending message has waited, in milliseconds (0 when none). */
  readonly oldestPendingAgeMillis: number
}

/**
 * Options of {@link layerOutbox}.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxOptions<E, R> {
  /** The status to read, such as `Outbox.status` of `@herald/outbox`. */
  readonly status: Effect.Effect<OutboxStatus, E, R>
  /** How often it is read (default 15 seconds); it is read once when the layer starts. */
  readonly interval?: Duration.Input | undefined
  /** Attributes added to the gauges, to tell several outboxes apart (default none). */
  readonly attributes?: Readonly<Record<string, string>> | undefined
}

/**
 * The outbox gauges.
 *
 * @since 0.1.0
 * @category metrics
 */
export const outboxMetrics = {
  pending: Metric.gauge(Semconv.Metrics.outboxPending, { description: "Outbox messages not yet sent." }),
  oldestAge: Metric.gauge(Semconv.Metrics.outboxOldestAge, {
    description: "How long the oldest pending outbox message has waited, in seconds."
  })
} as const

/**
 * Sets `herald.outbox.pending` and `herald.outbox.oldest_age` (seconds) from
 * an outbox's status, read when the layer starts and then every `interval`,
 * until its scope closes. A failed read is logged and leaves the gauges as
 * they were.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOutbox = <E, R>(options: OutboxOptions<E, R>): Layer.Layer<never, never, R> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const record = makeRecorder(yield* Effect.context<never>())
    const a = { [Semconv.Attributes.system]: Semconv.system, ...options.attributes }
    const read = Effect.matchCauseEffect(options.status, {
      onFailure: (cause) => Effect.logWarning("metrics: outbox status not read", cause),
      onSuccess: (status) =>
        Effect.sync(() => {
          record(outboxMetrics.pending, a, status.pending)
          record(outboxMetrics.oldestAge, a, status.oldestPendingAgeMillis / 1000)
        })
    })
    const interval = Duration.fromInputUnsafe(options.interval ?? "15 seconds")
    yield* read
    yield* Effect.forkScoped(Effect.repeat(Effect.andThen(Effect.sleep(interval), read), Schedule.forever))
  }))
