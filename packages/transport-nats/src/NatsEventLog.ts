/**
 * The `EventLog` contract on JetStream (nats.js v3), held to the same
 * conformance suite as the in-memory transport.
 *
 * ```ts
 * import { NatsConnection, NatsEventLog } from "@herald/transport-nats"
 *
 * const EventLogLive = NatsEventLog.layer.pipe(Layer.provide(NatsConnection.layer({ servers: "nats://127.0.0.1:4222" })))
 * ```
 *
 * What it does on the wire, and what nats-server 2.9 made it do:
 *
 * - `append` / `appendRaw` publish with the envelope's headers (the message
 *   id as `Nats-Msg-Id`, JetStream's dedupe id) and the expectations as
 *   `Nats-Expected-Last-Sequence`, `Nats-Expected-Last-Subject-Sequence`
 *   and `Nats-Expected-Stream`. A message larger than the server's
 *   `max_payload` fails with `MessageTooLarge` before anything is sent. A
 *   subject no stream captures fails with `NoStreamForSubject` (nats.js
 *   reports that publish as "jetstream is not enabled"). An append that
 *   times out fails with `Timeout`, which is retryable: the server often
 *   stored the message anyway, so retry with the same envelope (the same
 *   message id), never a new one — inside the duplicate window the retry is
 *   answered `duplicate: true` and there is exactly one copy. `append`
 *   does this itself: a `Timeout` or `ConnectionError` is retried with the
 *   same message id for `retryFor` (default 60 seconds, `appendRetryFor`
 *   of the layer; `0` disables), 100 ms doubling to 2 s apart, so an outage
 *   or a reconnect shorter than that is ridden through; `appendRaw` does
 *   so only for a message with a `Nats-Msg-Id`. nats-server
 *   2.9 stores the `Nats-Expected-*` headers with the message; Herald leaves
 *   them out of what it reads back.
 * - `pull` honours any `expires` (nats.js's own pull methods refuse less
 *   than one second): it waits up to `expires` for the first delivery, then
 *   takes what is ready up to `batch`. Settlements (`ack`, `nak`, `term`,
 *   `inProgress`) wait for the server's confirmation, so an `ack` that
 *   succeeded is seen by the next `lag` or `pull`. nats-server 2.9 ignores a
 *   `term` with a reason (it only knows a bare `+TERM`; the reason is sent to
 *   2.11 and newer), so the reason of a dead letter is in its headers, not
 *   on the server.
 * - Messages that are not valid envelopes are dead-lettered and termed by
 *   `pull` and `consume`, never returned. Messages that reach the consumer's
 *   `max_deliver` through ack timeouts are dead-lettered from the server's
 *   `MAX_DELIVERIES` advisory, for every consumer this layer pulled from or
 *   consumed; nats-server 2.9 sends that advisory when it next tries to
 *   deliver to the consumer (while a pull request is open), so with `pull`
 *   alone it comes with the next pull.
 * - `consume` runs the consumer runner in the caller's scope: bounded
 *   in-flight deliveries, `concurrency` handlers, settlement by
 *   `ConsumerPolicy`, idle heartbeats on its pull requests. A runner whose
 *   consumer or stream disappears (deleted, or a memory stream lost in a
 *   server restart) keeps looking for it for `missingGracePeriod`, then
 *   `await` fails with `ConsumerNotFound` or `StreamNotFound`; it never
 *   recreates topology. `ConsumerHandle.stats` counts what the runner
 *   settled (the dead letters stored from advisories are not counted there).
 * - `read` / `readRaw` read a snapshot through an ephemeral consumer
 *   (`ack_policy: none`, in memory) removed when the read ends.
 * - `get` / `getRaw` ask `STREAM.MSG.GET` for one sequence (available on
 *   every 2.9 server, unlike direct gets, which need `allow_direct`); the
 *   server's "no message found" is `Option.none()`.
 *
 * At-least-once is the real guarantee: after a `kill -9` of nats-server,
 * acknowledged messages can come back (measured on 2.9.10), and 2.9 syncs
 * its files every 60 seconds, so a power loss can lose the last minute. Make
 * handlers idempotent (the inbox package does it for you).
 *
 * @since 0.1.0
 */
import { EventLog, Millis } from "@herald/transport"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Internal from "./internal/eventlog/eventLog.ts"
import * as NatsConnection from "./NatsConnection.ts"

/**
 * Tuning of the consumer runner and of `pull`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long a pull request of a consumer runner stays open (default 10 seconds). */
  readonly pullExpires?: Duration.Input | undefined
  /**
   * The idle heartbeat asked of a runner's pull requests (default 1 second);
   * after two missed heartbeats the runner checks its consumer.
   */
  readonly heartbeat?: Duration.Input | undefined
  /**
   * How long a runner keeps looking for a missing consumer or stream before
   * `await` fails (default 10 seconds).
   */
  readonly missingGracePeriod?: Duration.Input | undefined
  /**
   * How long `pull` waits for more deliveries of a batch after the last one,
   * when the server does not end the request (it does not when the
   * consumer's `max_ack_pending` is reached; default 250 milliseconds).
   */
  readonly readyGap?: Duration.Input | undefined
  /** The timeout of a runner's consumer checks (default 2 seconds). */
  readonly checkTimeout?: Duration.Input | undefined
  /**
   * How long an append that fails with `Timeout` or `ConnectionError` is
   * retried with the same message id when its own `retryFor` does not say
   * (default 60 seconds; `0` disables).
   */
  readonly appendRetryFor?: Duration.Input | undefined
}

/** The default of `appendRetryFor`: a server restart or a reconnect fits in it. */
const defaultAppendRetryMillis = 60_000

/**
 * Builds the `EventLog` over the connection in context. The advisory
 * subscriptions it opens live as long as the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<EventLog.EventLog["Service"], never, NatsConnection.NatsConnection | Scope.Scope> =>
  Effect.flatMap(NatsConnection.NatsConnection, (connection) => {
    const pullExpiresMillis = Math.max(1_000, Millis.orElse(options?.pullExpires, 10_000))
    const heartbeatMillis = Math.max(100, Math.min(Millis.orElse(options?.heartbeat, 1_000), pullExpiresMillis / 2))
    return Internal.make(connection, {
      pullExpiresMillis,
      heartbeatMillis,
      missingGraceMillis: Millis.orElse(options?.missingGracePeriod, 10_000),
      restGapMillis: Math.max(1, Millis.orElse(options?.readyGap, 250)),
      checkTimeoutMillis: Math.max(100, Millis.orElse(options?.checkTimeout, 2_000)),
      appendRetryMillis: Millis.orElse(options?.appendRetryFor, defaultAppendRetryMillis)
    })
  })

/**
 * The `EventLog` with the given tuning.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<EventLog.EventLog, never, NatsConnection.NatsConnection> =>
  Layer.effect(EventLog.EventLog, make(options))

/**
 * The `EventLog` on the connection in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventLog.EventLog, never, NatsConnection.NatsConnection> = Layer.effect(
  EventLog.EventLog,
  make()
)
