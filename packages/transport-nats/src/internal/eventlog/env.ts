/**
 * What the parts of the NATS `EventLog` share: the connection, the resolved
 * options, `appendRaw`, consumer lookups, and the dead-letter subjects that
 * running consumers override.
 *
 * @since 0.1.0
 * @internal
 */
import { type EventLog, TransportError, type Wire } from "@herald/transport"
import type { ConsumerInfo } from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import type * as NatsConnection from "../../NatsConnection.ts"
import * as Errors from "../errors.ts"
import type { SettleContext } from "./delivery.ts"

/**
 * Tuning of the NATS `EventLog`, resolved to milliseconds.
 *
 * @internal
 */
export interface Resolved {
  /** How long a pull request of a consumer runner stays open. */
  readonly pullExpiresMillis: number
  /** The idle heartbeat asked of a runner's pull requests. */
  readonly heartbeatMillis: number
  /** How long a runner keeps retrying while its consumer or stream is missing before it fails. */
  readonly missingGraceMillis: number
  /**
   * How long `pull` waits for more of a `no_wait` request after the last
   * thing it received, when the server does not end the request.
   */
  readonly restGapMillis: number
  /** The timeout of the consumer checks of a runner. */
  readonly checkTimeoutMillis: number
  /** How long an append retries a `Timeout` / `ConnectionError` when its options do not say (0: never). */
  readonly appendRetryMillis: number
}

/**
 * The shared context.
 *
 * @internal
 */
export interface Env {
  readonly connection: NatsConnection.NatsConnection["Service"]
  readonly options: Resolved
  readonly settle: SettleContext
  readonly appendRaw: (
    subject: string,
    message: Wire.RawMessage,
    options?: EventLog.AppendOptions
  ) => Effect.Effect<EventLog.AppendResult, TransportError.TransportError>
  /** Dead-letter subjects overridden by running consumers (`ConsumeOptions.deadLetterSubject`), by `stream/consumer`. */
  readonly overrides: Map<string, string>
  /** Starts listening for the consumer's MAX_DELIVERIES advisories (once per consumer, for the layer's life). */
  readonly watchAdvisories: (stream: string, consumer: string) => Effect.Effect<void>
}

/**
 * The key of a consumer in the layer's maps.
 *
 * @internal
 */
export const keyOf = (stream: string, consumer: string): string => `${stream}/${consumer}`

/**
 * A consumer's `ConsumerInfo`: `ConsumerNotFound` or `StreamNotFound` when
 * it is missing.
 *
 * @internal
 */
export const consumerInfo = (
  env: Env,
  stream: string,
  consumer: string,
  timeoutMillis?: number
): Effect.Effect<ConsumerInfo, TransportError.TransportError> => {
  const operation = `consumer info ${stream}/${consumer}`
  const info = Effect.tryPromise({
    try: () => env.connection.manager.consumers.info(stream, consumer),
    catch: (e) =>
      Errors.fromUnknown(e, { operation, stream, consumer, timeoutMillis: env.connection.jetstreamTimeoutMillis })
  })
  return timeoutMillis === undefined
    ? info
    : info.pipe(
      Effect.timeoutOrElse({
        duration: timeoutMillis,
        orElse: () =>
          Effect.fail(TransportError.make(new TransportError.Timeout({ operation, millis: timeoutMillis })))
      })
    )
}

/**
 * A stream's info: `StreamNotFound` when it is missing.
 *
 * @internal
 */
export const streamInfo = (env: Env, stream: string) =>
  Effect.tryPromise({
    try: () => env.connection.manager.streams.info(stream),
    catch: (e) =>
      Errors.fromUnknown(e, {
        operation: `stream info ${stream}`,
        stream,
        timeoutMillis: env.connection.jetstreamTimeoutMillis
      })
  })

/**
 * The largest message the server takes, in bytes (as it said when the
 * client last connected).
 *
 * @internal
 */
export const maxPayloadOf = (env: Env): number =>
  env.connection.client.info?.max_payload ?? env.connection.server.maxPayload
