/**
 * Traces across every hop: a decorator layer over `Bus` and `EventLog` that
 * runs what is sent in a producer span, carries its W3C `traceparent` in the
 * message's headers, and runs what is received in a consumer span whose
 * parent is the producer's span. It works on every transport (NATS, in
 * memory) and exports through whatever `Tracer` the application installs
 * (`@effect/opentelemetry`, effect's own OTLP exporter); none is a
 * dependency of this package.
 *
 * ```ts
 * const app = Layer.mergeAll(Orders.layer, Shipping.layer).pipe(
 *   Layer.provide(Tracing.layer({ destinations: ["shop.orders.*", "shop.shipping.>"] })),
 *   Layer.provide(NatsTransport.layer({ servers: "nats://127.0.0.1:4222" }))
 * )
 * ```
 *
 * `layer` reads the `Bus` and `EventLog` of its context and provides wrapped
 * ones under the same tags (`Layer.effect(Bus, Effect.map(Bus, wrap))`, what
 * `Layer.updateService` does for one service). Fed by `Layer.provide`, the
 * wrapped services are what the layers above it see; to keep the transport's
 * other services (`Topology`, `NatsConnection`) visible too, build the
 * transport as `Tracing.layer().pipe(Layer.provideMerge(transport))`: the
 * wrapped `Bus` and `EventLog` win over the inner ones.
 *
 * | operation | span | kind | parent | destination |
 * |---|---|---|---|---|
 * | `Bus.publish`, `publishRaw` | `send <destination>` | producer | the current span | the first of `destinations` that matches the subject, else `(other)` |
 * | `Bus.request` | `send <destination>` | producer | the current span | as `publish`; linked to the server's span the reply names |
 * | `EventLog.append`, `appendRaw` | `send <destination>` | producer | the current span | `expectedStream` when given, else as `publish` |
 * | `Bus.serve` handler | `process <pattern>` | consumer | the request's `traceparent` | the served pattern; the reply carries this span's context |
 * | `EventLog.consume` handler | `process <stream>` | consumer | the message's `traceparent` | the stream |
 * | `Bus.subscribe` message | `receive <pattern>` | consumer | the message's `traceparent` | the subscribed pattern |
 * | `EventLog.pull` | `receive <stream>` | consumer | the current span, linked to every delivery's `traceparent` | the stream |
 *
 * A message without a (valid) `traceparent`, from a client that does not
 * trace, starts a new trace. A message that already carries a
 * `traceparent` keeps it: its producer span is a child of that context and
 * is linked to the current span. This is how a trace survives the outbox
 * (`Outbox.publish` stores the context of the transaction's span with the
 * message; the relay's append is a child of it, and the consumer's span a
 * child of the transaction's span, not of the relay's poll) and how a
 * context set by hand is carried through.
 *
 * `subscribe` hands messages to a `Stream`: there is no handler for the
 * layer to wrap, so each message gets a `receive` span when the chunk that
 * holds it is emitted;
 * run the code that handles it under `Tracing.process(pattern, message)` to
 * have a `process` span that is a child of the producer's (the same holds
 * for `pull`'s deliveries).
 *
 * Attributes (`Semconv.Attributes`): `messaging.system` = `nats`,
 * `messaging.operation.type`, `messaging.operation.name`,
 * `messaging.destination.name`, `messaging.message.id`,
 * `messaging.message.conversation_id` (the correlation id),
 * `herald.causation_id`, `herald.message.type`, and on a consumer
 * `messaging.consumer.group.name` (the durable consumer, or the queue group)
 * and `messaging.nats.message.delivery_count`. Never a raw subject: the
 * destination is always a stream or a pattern.
 *
 * @since 0.1.0
 */
import { SubjectPattern } from "@herald/subject"
import { Bus, type Envelope, EventLog, TraceContext, Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import * as Metrics from "./Metrics.ts"
import type * as MetricsError from "./MetricsError.ts"
import * as Semconv from "./Semconv.ts"

/**
 * Options of the tracing layers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Subject patterns (`shop.orders.*`, `shop.>`) naming the destinations of
   * what is sent: a span's destination is the first pattern that matches
   * the subject, else `(other)`. Default: none.
   */
  readonly destinations?: ReadonlyArray<string> | undefined
}

/**
 * The destination of a subject that none of `destinations` matches.
 *
 * @since 0.1.0
 * @category constants
 */
export const otherDestination = "(other)"

/** The destination namer: the first matching pattern, else `(other)`. */
type Namer = (subject: string) => string

const namer = (options: Options | undefined): Result.Result<Namer, MetricsError.MetricsError> =>
  Result.map(Metrics.compileDestinations(options?.destinations ?? []), (patterns) => (subject) => {
    for (const pattern of patterns) {
      if (SubjectPattern.matches(pattern, subject)) return pattern
    }
    return otherDestination
  })

/*
 * Spans are made with `Effect.useSpan` and entered with
 * `Effect.withParentSpan` (what `Effect.withSpan` does), so that their
 * attributes are written straight onto the span, and only when it is
 * sampled: an unsampled span is not exported, and building its attributes
 * for every message was work for nothing. Its context still propagates
 * (`traceparent` with flags `00`), as W3C requires.
 *
 * Every span here is made without stack capture: the stack at the point a
 * span starts is inside this module (useless to whoever reads the trace),
 * and capturing it was the largest cost of a traced publish.
 */
const noStack: Tracer.TraceOptions = { captureStackTrace: false }

const constVoid = (): Effect.Effect<void> => Effect.void

/** Writes the attributes every span here has, then those of the message. */
type Annotate = (span: Tracer.Span) => void

const annotateBase = (
  span: Tracer.Span,
  operationType: Semconv.OperationType,
  operationName: string,
  destination: string
): void => {
  span.attribute(Semconv.Attributes.system, Semconv.system)
  span.attribute(Semconv.Attributes.operationType, operationType)
  span.attribute(Semconv.Attributes.operationName, operationName)
  span.attribute(Semconv.Attributes.destination, destination)
}

const annotateIdentity = (
  span: Tracer.Span,
  messageId: string | undefined,
  correlationId: string | undefined,
  causationId: string | undefined,
  type: string | undefined
): void => {
  if (messageId !== undefined) span.attribute(Semconv.Attributes.messageId, messageId)
  if (correlationId !== undefined) span.attribute(Semconv.Attributes.conversationId, correlationId)
  if (causationId !== undefined) span.attribute(Semconv.Attributes.causationId, causationId)
  if (type !== undefined) span.attribute(Semconv.Attributes.messageType, type)
}

const annotateEnvelope = (span: Tracer.Span, envelope: Envelope.Envelope): void =>
  annotateIdentity(
    span,
    envelope.identity.messageId,
    envelope.identity.correlationId,
    envelope.identity.causationId,
    envelope.type
  )

const header = (headers: Readonly<Record<string, string>>, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" ? value : undefined
}

const annotateRaw = (span: Tracer.Span, raw: Wire.RawMessage): void =>
  annotateIdentity(
    span,
    header(raw.headers, Wire.HeaderNames.messageId) ?? header(raw.headers, Wire.HeaderNames.natsMsgId),
    header(raw.headers, Wire.HeaderNames.correlationId),
    header(raw.headers, Wire.HeaderNames.causationId),
    header(raw.headers, Wire.HeaderNames.type)
  )

const annotateDelivery = (span: Tracer.Span, delivery: EventLog.Delivery): void => {
  annotateEnvelope(span, delivery.envelope)
  span.attribute(Semconv.Attributes.consumerGroup, delivery.consumer)
  span.attribute(Semconv.Attributes.deliveryCount, delivery.deliveryCount)
}

const deliveryAttributes = (delivery: EventLog.Delivery): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {}
  const { identity } = delivery.envelope
  if (identity.messageId !== undefined) attributes[Semconv.Attributes.messageId] = identity.messageId
  if (identity.correlationId !== undefined) attributes[Semconv.Attributes.conversationId] = identity.correlationId
  if (identity.causationId !== undefined) attributes[Semconv.Attributes.causationId] = identity.causationId
  if (delivery.envelope.type !== undefined) attributes[Semconv.Attributes.messageType] = delivery.envelope.type
  attributes[Semconv.Attributes.consumerGroup] = delivery.consumer
  attributes[Semconv.Attributes.deliveryCount] = delivery.deliveryCount
  return attributes
}

const producer: Tracer.SpanOptionsNoTrace = { kind: "producer" }

/**
 * Runs `run` in a producer span `send <destination>` and hands it the
 * headers to send: the span's context, unless `headers` already carry a
 * `traceparent` (then the span is a child of that context, linked to the
 * current span, and the headers are sent as they are).
 */
const send = <A, E>(
  operationName: string,
  destination: string,
  headers: Readonly<Record<string, string>>,
  annotate: Annotate,
  run: (context: Record<string, string>) => Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  // The headers are the caller's, read once when the effect is made: no `Effect.suspend` step per message.
  const stored = TraceContext.parentOf(headers)
  if (Option.isNone(stored)) {
    return Effect.useSpan(`send ${destination}`, producer, (span) => {
      if (span.sampled) {
        annotateBase(span, "send", operationName, destination)
        annotate(span)
      }
      return Effect.withParentSpan(run(TraceContext.toHeaders(span)), span, noStack)
    })
  }
  return Effect.flatMap(Effect.option(Effect.currentParentSpan), (current) =>
    Effect.useSpan(`send ${destination}`, {
      kind: "producer",
      parent: stored.value,
      links: Option.isSome(current) ? [{ span: current.value, attributes: {} }] : []
    }, (span) => {
      if (span.sampled) {
        annotateBase(span, "send", operationName, destination)
        annotate(span)
      }
      return Effect.withParentSpan(run({}), span, noStack)
    }))
}

const consumerRoot: Tracer.SpanOptionsNoTrace = { kind: "consumer", root: true }

/**
 * Runs `self` in the consumer span `name` of a received message: a child of
 * the span its `traceparent` names, or the root of a new trace.
 */
const consumerSpan = <A, E, R>(
  name: string,
  operationType: "process" | "receive",
  destination: string,
  headers: Readonly<Record<string, string>>,
  annotate: Annotate,
  self: (span: Tracer.Span) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const parent = TraceContext.parentOf(headers)
  return Effect.useSpan(
    name,
    Option.isSome(parent) ? { kind: "consumer", parent: parent.value } : consumerRoot,
    (span) => {
      if (span.sampled) {
        annotateBase(span, operationType, operationType, destination)
        annotate(span)
      }
      return self(span)
    }
  )
}

/** `self` run with `span` as the current span. */
const within = <A, E, R>(self: Effect.Effect<A, E, R>) => (span: Tracer.Span): Effect.Effect<A, E, R> =>
  Effect.withParentSpan(self, span, noStack) as Effect.Effect<A, E, R>

/**
 * Runs `self` in the consumer span `process <destination>` of a received
 * message: a child of the span its `traceparent` names, or the root of a
 * new trace when it has none. For the code that handles `subscribe`'s
 * messages and `pull`'s deliveries (the layer wraps `consume` and `serve`
 * handlers itself).
 *
 * @since 0.1.0
 * @category combinators
 */
export const process: {
  (destination: string, message: Bus.Incoming): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, destination: string, message: Bus.Incoming): Effect.Effect<A, E, R>
} = dual(3, <A, E, R>(self: Effect.Effect<A, E, R>, destination: string, message: Bus.Incoming) =>
  Effect.suspend(() =>
    consumerSpan(
      `process ${destination}`,
      "process",
      destination,
      message.envelope.headers,
      (span) => isDelivery(message) ? annotateDelivery(span, message) : annotateEnvelope(span, message.envelope),
      within(self)
    )
  ))

const isDelivery = (message: Bus.Incoming): message is EventLog.Delivery =>
  "deliveryCount" in message && "consumer" in message

/**
 * Wraps a `Bus`: `publish`, `publishRaw` and `request` in producer spans
 * that inject their context, `serve` handlers in consumer spans whose
 * context the reply carries back, `subscribe` messages in `receive` spans.
 *
 * @since 0.1.0
 * @category constructors
 */
export const bus = (
  self: Bus.Bus["Service"],
  options?: Options
): Result.Result<Bus.Bus["Service"], MetricsError.MetricsError> =>
  Result.map(namer(options), (destinationOf) => ({
    publish: (subject, envelope) => {
      const destination = destinationOf(subject)
      return send(
        "publish",
        destination,
        envelope.headers,
        (span) => annotateEnvelope(span, envelope),
        (context) => self.publish(subject, TraceContext.withContext(envelope, context))
      )
    },
    publishRaw: (subject, message) =>
      send(
        "publish",
        destinationOf(subject),
        message.headers,
        (span) => annotateRaw(span, message),
        (context) => self.publishRaw(subject, withRawContext(message, context))
      ),
    request: (subject, envelope, requestOptions) =>
      send(
        "request",
        destinationOf(subject),
        envelope.headers,
        (span) => annotateEnvelope(span, envelope),
        (context) =>
          Effect.tap(self.request(subject, TraceContext.withContext(envelope, context), requestOptions), (reply) => {
            const server = TraceContext.parentOf(reply.headers)
            return Option.isSome(server)
              ? Effect.flatMap(
                Effect.option(Effect.currentSpan),
                (span) => Effect.sync(() => Option.map(span, (s) => s.addLinks([{ span: server.value, attributes: {} }])))
              )
              : Effect.void
          })
      ),
    subscribe: (pattern, subscribeOptions) => {
      const name = `receive ${pattern}`
      const queue = subscribeOptions?.queue
      const receive = (message: Bus.Received) =>
        consumerSpan(name, "receive", pattern, message.envelope.headers, (span) => {
          annotateEnvelope(span, message.envelope)
          if (queue !== undefined) span.attribute(Semconv.Attributes.consumerGroup, queue)
        }, constVoid)
      // A chunk at a time, as the transport emits them (`Stream.tap` would emit one message per chunk).
      return Effect.map(self.subscribe(pattern, subscribeOptions), (stream) =>
        Stream.mapArrayEffect(stream, (messages) => Effect.as(Effect.forEach(messages, receive, { discard: true }), messages)))
    },
    serve: (pattern, handler, serveOptions) => {
      const name = `process ${pattern}`
      const queue = serveOptions?.queue
      return self.serve(
        pattern,
        (request) =>
          consumerSpan(name, "process", pattern, request.envelope.headers, (span) => {
            annotateEnvelope(span, request.envelope)
            if (queue !== undefined) span.attribute(Semconv.Attributes.consumerGroup, queue)
          }, (span) =>
            // The reply carries this span's context.
            Effect.withParentSpan(
              Effect.map(handler(request), (reply) => TraceContext.withContext(reply, TraceContext.toHeaders(span))),
              span,
              noStack
            )),
        serveOptions
      )
    }
  }))

/** Raw headers with the trace context added, unless they carry a `traceparent`. */
const withRawContext = (message: Wire.RawMessage, context: Readonly<Record<string, string>>): Wire.RawMessage =>
  context[TraceContext.HeaderNames.traceparent] === undefined || TraceContext.hasTraceparent(message.headers)
    ? message
    : { ...message, headers: { ...message.headers, ...context } }

/**
 * Wraps an `EventLog`: `append` and `appendRaw` in producer spans that
 * inject their context, `consume` handlers in consumer spans, `pull` in a
 * `receive` span linked to its deliveries' contexts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const eventLog = (
  self: EventLog.EventLog["Service"],
  options?: Options
): Result.Result<EventLog.EventLog["Service"], MetricsError.MetricsError> =>
  Result.map(namer(options), (destinationOf) => ({
    ...self,
    append: (subject, envelope, appendOptions) =>
      send(
        "append",
        appendOptions?.expectedStream ?? destinationOf(subject),
        envelope.headers,
        (span) => annotateEnvelope(span, envelope),
        (context) => self.append(subject, TraceContext.withContext(envelope, context), appendOptions)
      ),
    appendRaw: (subject, message, appendOptions) =>
      send(
        "append",
        appendOptions?.expectedStream ?? destinationOf(subject),
        message.headers,
        (span) => annotateRaw(span, message),
        (context) => self.appendRaw(subject, withRawContext(message, context), appendOptions)
      ),
    pull: (stream, consumer, pullOptions) =>
      Effect.withSpan(
        Effect.tap(self.pull(stream, consumer, pullOptions), (deliveries) => {
          const links: Array<Tracer.SpanLink> = []
          for (const delivery of deliveries) {
            const parent = TraceContext.parentOf(delivery.envelope.headers)
            if (Option.isSome(parent)) {
              links.push({ span: parent.value, attributes: deliveryAttributes(delivery) })
            }
          }
          return links.length === 0
            ? Effect.void
            : Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
              Effect.sync(() => Option.map(span, (s) => s.addLinks(links))))
        }),
        `receive ${stream}`,
        {
          kind: "consumer",
          captureStackTrace: false,
          attributes: {
            [Semconv.Attributes.system]: Semconv.system,
            [Semconv.Attributes.operationType]: "receive",
            [Semconv.Attributes.operationName]: "receive",
            [Semconv.Attributes.destination]: stream,
            [Semconv.Attributes.consumerGroup]: consumer
          }
        }
      ),
    consume: (stream, consumer, handler, consumeOptions) => {
      const name = `process ${stream}`
      return self.consume(
        stream,
        consumer,
        (delivery) =>
          consumerSpan(
            name,
            "process",
            stream,
            delivery.envelope.headers,
            (span) => annotateDelivery(span, delivery),
            (span) => Effect.withParentSpan(handler(delivery), span, noStack)
          ),
        consumeOptions
      )
    }
  }))

/**
 * Wraps the `Bus` of the context (see `bus`). Fails with a `MetricsError`
 * (`InvalidOptions`) when one of `destinations` is not a valid pattern.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerBus = (options?: Options): Layer.Layer<Bus.Bus, MetricsError.MetricsError, Bus.Bus> =>
  Layer.effect(Bus.Bus, Effect.flatMap(Effect.service(Bus.Bus), (inner) => Effect.fromResult(bus(inner, options))))

/**
 * Wraps the `EventLog` of the context (see `eventLog`). Fails with a
 * `MetricsError` (`InvalidOptions`) when one of `destinations` is not a valid pattern.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEventLog = (
  options?: Options
): Layer.Layer<EventLog.EventLog, MetricsError.MetricsError, EventLog.EventLog> =>
  Layer.effect(
    EventLog.EventLog,
    Effect.flatMap(Effect.service(EventLog.EventLog), (inner) => Effect.fromResult(eventLog(inner, options)))
  )

/**
 * Wraps the `Bus` and the `EventLog` of the context: every transport gets
 * traces by adding this one layer between the application and the
 * transport.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Bus.Bus | EventLog.EventLog, MetricsError.MetricsError, Bus.Bus | EventLog.EventLog> =>
  Layer.merge(layerBus(options), layerEventLog(options))
