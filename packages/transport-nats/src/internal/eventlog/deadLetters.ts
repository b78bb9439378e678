/**
 * Dead letters the transport stores itself: stored messages that are not
 * valid envelopes (from `pull` and the consumer runner), and messages that
 * exhausted `max_deliver` through ack timeouts (from the server's
 * `MAX_DELIVERIES` advisory).
 *
 * On nats-server 2.9 the advisory is sent when the server next tries to
 * deliver to the consumer, that is while some client has a pull request
 * open on it, not when the last ack wait runs out (measured: with no pull
 * request open the advisory did not come for seconds, and came at once with
 * the next pull). A running `consume` always has one open; with `pull` alone
 * the message is dead-lettered at the next pull.
 *
 * @since 0.1.0
 * @internal
 */
import { ConsumerPolicy, type EventLog, Millis, Settlement, Topology, TransportError, type Wire } from "@herald/transport"
import type { NatsConnection as Client, Subscription } from "@nats-io/nats-core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Errors from "../errors.ts"
import { type Received, settleRaw } from "./delivery.ts"
import { consumerInfo, type Env, keyOf, maxPayloadOf } from "./env.ts"
import { storedOfStoredMsg } from "./message.ts"
import { type ConsumerSettings, settingsOf } from "./util.ts"

/**
 * The dead-letter subject of a consumer: the one a running consumer
 * overrides it with, else the consumer's.
 *
 * @internal
 */
export const subjectFor = (env: Env, settings: ConsumerSettings): string =>
  env.overrides.get(keyOf(settings.config.stream, settings.config.name)) ?? settings.deadLetterSubject

/**
 * What `Settlement` needs to know of a delivery.
 *
 * @internal
 */
export const targetOf = (received: Received): Settlement.Target => ({
  stream: received.info.stream,
  consumer: received.info.consumer,
  streamSequence: received.info.streamSequence,
  subject: received.msg.subject,
  deliveryCount: received.info.deliveryCount,
  original: received.stored.original
})

/**
 * How dead letters are stored: `appendRaw`, within the server's `max_payload`.
 *
 * @internal
 */
export const storeOf = (env: Env) =>
(subject: string, letter: Wire.RawMessage): Effect.Effect<EventLog.AppendResult, TransportError.TransportError> =>
  env.appendRaw(subject, letter)

/**
 * What became of a delivery settled without a handler.
 *
 * @internal
 */
export type Outcome = "deadLettered" | "naked" | "unsettled"

/**
 * Settles a delivery that no handler saw (its message is not a valid
 * envelope): `Settlement.settle` with bare settlements. Never fails.
 *
 * @internal
 */
export const undecodable = (
  env: Env,
  received: Received,
  error: TransportError.TransportError,
  options?: {
    readonly settings?: ConsumerSettings | undefined
    readonly deadLetterSubject?: string | undefined
    readonly nakDelay?: ((deliveryCount: number) => Duration.Input) | undefined
  }
): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const info = received.info
    const settings = options?.settings ?? (yield* Effect.map(
      consumerInfo(env, info.stream, info.consumer),
      (ci) => settingsOf(info.stream, info.consumer, ci)
    ))
    const outcome = yield* Settlement.settle(error, {
      target: targetOf(received),
      maxDeliver: settings.maxDeliver,
      nakDelay: options?.nakDelay ?? ((n) => ConsumerPolicy.defaultNakDelay(settings.config, n)),
      deadLetterSubject: options?.deadLetterSubject ?? subjectFor(env, settings),
      maxPayload: maxPayloadOf(env),
      store: storeOf(env),
      term: () => settleRaw(env.settle, received, "term"),
      nak: (delay) => settleRaw(env.settle, received, "nak", Millis.orElse(delay, 0))
    })
    return outcome._tag === "DeadLettered" ? "deadLettered" as Outcome : "naked" as Outcome
  }).pipe(
    Effect.catch((e) =>
      Effect.as(
        Effect.logError(
          `NatsEventLog: undecodable ${received.info.stream} sequence ${received.info.streamSequence} of consumer ${received.info.consumer} left unsettled (redelivered after the ack wait): ${e.message}`
        ),
        "unsettled" as Outcome
      )
    )
  )

interface Advisory {
  readonly stream: string
  readonly consumer: string
  readonly sequence: number
  readonly deliveries: number
}

const decoder = new TextDecoder()

const parseAdvisory = (data: Uint8Array): Effect.Effect<Advisory | undefined> =>
  Effect.try(() => JSON.parse(decoder.decode(data)) as unknown).pipe(
    Effect.map((parsed) => {
      if (typeof parsed !== "object" || parsed === null) return undefined
      const o = parsed as Record<string, unknown>
      return typeof o.stream === "string" && typeof o.consumer === "string" && typeof o.stream_seq === "number" &&
          typeof o.deliveries === "number"
        ? { stream: o.stream, consumer: o.consumer, sequence: o.stream_seq, deliveries: o.deliveries }
        : undefined
    }),
    Effect.orElseSucceed(() => undefined)
  )

const retryable = {
  while: (e: TransportError.TransportError) => e.isRetryable,
  times: 6,
  schedule: Schedule.exponential("200 millis")
}

/** Dead-letters the message of one MAX_DELIVERIES advisory. */
const onAdvisory = (env: Env, advisory: Advisory) =>
  Effect.gen(function*() {
    const { consumer, deliveries, sequence, stream } = advisory
    const settings = yield* consumerInfo(env, stream, consumer).pipe(
      Effect.map((ci) => settingsOf(stream, consumer, ci)),
      Effect.catchReason("TransportError", "ConsumerNotFound", () =>
        Effect.succeed<ConsumerSettings>({
          config: { stream, name: consumer },
          maxDeliver: deliveries,
          maxAckPending: undefined,
          deadLetterSubject: Topology.deadLetterSubject({ stream, name: consumer }),
          ackWaitMillis: 30_000
        }))
    )
    const stored = yield* Effect.tryPromise({
      try: () => env.connection.manager.streams.getMessage(stream, { seq: sequence }),
      catch: (e) => Errors.fromUnknown(e, { operation: `get ${stream} sequence ${sequence}`, stream })
    })
    if (stored === null) {
      return yield* Effect.logWarning(
        `NatsEventLog: ${stream} sequence ${sequence} reached max deliveries on consumer ${consumer} but is no longer stored; nothing to dead-letter`
      )
    }
    const maxDeliver = settings.maxDeliver ?? deliveries
    yield* Settlement.deadLetter({
      target: {
        stream,
        consumer,
        streamSequence: sequence,
        subject: stored.subject,
        deliveryCount: deliveries,
        original: storedOfStoredMsg(stored).original
      },
      reason: ConsumerPolicy.maxDeliveriesReason(maxDeliver),
      subject: subjectFor(env, settings),
      maxPayload: maxPayloadOf(env),
      store: storeOf(env)
    })
  }).pipe(
    Effect.retry(retryable),
    Effect.catch((e) =>
      Effect.logError(
        `NatsEventLog: cannot dead-letter ${advisory.stream} sequence ${advisory.sequence} of consumer ${advisory.consumer} after ${advisory.deliveries} deliveries: ${e.message}`
      )
    )
  )

/**
 * The layer's listener of MAX_DELIVERIES advisories: one core subscription
 * per consumer `watch`ed, all owned by `scope`, and one fiber that
 * dead-letters what they report. Storing a dead letter twice keeps one
 * (its `Nats-Msg-Id` is deterministic), so several processes listening for
 * the same consumer are harmless.
 *
 * @internal
 */
export const makeAdvisories = (
  client: Client,
  getEnv: () => Env,
  scope: Scope.Scope
): Effect.Effect<(stream: string, consumer: string) => Effect.Effect<void>> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Uint8Array>()
    const subscriptions = new Map<string, Subscription>()
    yield* Effect.forkIn(
      Effect.forever(
        Queue.take(queue).pipe(
          Effect.flatMap(parseAdvisory),
          Effect.flatMap((a) => (a === undefined ? Effect.void : onAdvisory(getEnv(), a)))
        )
      ),
      scope
    )
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        const subs = [...subscriptions.values()]
        subscriptions.clear()
        return subs
      }).pipe(
        Effect.flatMap((subs) =>
          client.isClosed() ? Effect.void : Effect.ignore(Effect.try(() => subs.forEach((s) => s.unsubscribe())))
        )
      )
    )
    return (stream: string, consumer: string) =>
      Effect.suspend(() => {
        const key = keyOf(stream, consumer)
        if (subscriptions.has(key) || client.isClosed()) return Effect.void
        const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`
        return Effect.try(() =>
          client.subscribe(subject, {
            callback: (err, msg) => {
              if (err === null) Queue.offerUnsafe(queue, msg.data)
            }
          })
        ).pipe(
          Effect.tap((sub) => Effect.sync(() => subscriptions.set(key, sub))),
          Effect.asVoid,
          Effect.catch((e) => Effect.logWarning(`NatsEventLog: cannot listen for MAX_DELIVERIES advisories of ${key}: ${String(e)}`))
        )
      })
  })
