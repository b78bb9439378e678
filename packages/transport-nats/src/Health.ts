/**
 * Health of the NATS connection, of JetStream and of chosen consumers, as a
 * report, and as a responder that answers `health.<service>` over core NATS.
 *
 * ```ts
 * import { Health } from "@herald/transport-nats"
 *
 * const report = yield* Health.check({ consumers: [{ stream: "ORDERS", consumer: "billing", maxPending: 10_000 }] })
 * // report.status: "ok" | "degraded" | "down"
 *
 * yield* Health.responder("orders") // `nats req health.orders ''` answers with the JSON report
 * ```
 *
 * `status` is `down` when the connection is not connected (disconnected,
 * reconnecting or closed; JetStream and the consumers are then not asked and
 * are reported as not ok), `degraded` when JetStream or a consumer check
 * fails, `ok` otherwise. Each check has its own deadline (default 2 s), so a
 * health check never hangs.
 *
 * @since 0.1.0
 */
import { Subject } from "@herald/subject"
import { Millis, TransportError } from "@herald/transport"
import { headers as makeHeaders, type Msg } from "@nats-io/nats-core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { subscribeRaw } from "./internal/bus/subscribe.ts"
import * as Errors from "./internal/errors.ts"
import * as NatsConnection from "./NatsConnection.ts"

/**
 * A consumer whose lag is part of the report.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerTarget {
  readonly stream: string
  readonly consumer: string
  /** The consumer is not ok when more messages than this wait for it (default: no limit). */
  readonly maxPending?: number | undefined
}

/**
 * Options of {@link check}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckOptions {
  /** Consumers whose lag is reported. */
  readonly consumers?: ReadonlyArray<ConsumerTarget> | undefined
  /** Whether JetStream is checked (default `true`; a core-NATS-only service sets `false`). */
  readonly jetstream?: boolean | undefined
  /** The deadline of each check (default 2 seconds). */
  readonly timeout?: Duration.Input | undefined
}

/**
 * The connection part of a report.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionHealth {
  readonly state: NatsConnection.ConnectionState
  /** The server the client is (or was last) connected to, `host:port`. */
  readonly server: string
  /** The server's version, as announced when the client connected. */
  readonly version: string
}

/**
 * The JetStream part of a report.
 *
 * @since 0.1.0
 * @category models
 */
export interface JetStreamHealth {
  readonly ok: boolean
  readonly error?: string | undefined
}

/**
 * One consumer's part of a report.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerHealth {
  readonly stream: string
  readonly consumer: string
  /** Matching messages not yet delivered (-1 when unknown). */
  readonly pending: number
  /** Delivered and not yet acknowledged (-1 when unknown). */
  readonly ackPending: number
  readonly ok: boolean
  readonly error?: string | undefined
}

/**
 * A health report. Plain data: `JSON.stringify` gives the responder's body.
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthReport {
  readonly status: "ok" | "degraded" | "down"
  readonly connection: ConnectionHealth
  readonly jetstream: JetStreamHealth
  readonly consumers: ReadonlyArray<ConsumerHealth>
}

const defaultTimeoutMillis = 2_000

/** A nats.js call under a deadline, its failure as a readable line. */
const probe = <A>(
  thunk: () => Promise<A>,
  context: Errors.Context & { readonly timeoutMillis: number }
): Effect.Effect<Result.Result<A, string>> =>
  Effect.tryPromise({ try: thunk, catch: (e) => Errors.fromUnknown(e, context) }).pipe(
    Effect.timeoutOrElse({
      duration: context.timeoutMillis,
      orElse: () =>
        Effect.fail(
          TransportError.make(new TransportError.Timeout({ operation: context.operation, millis: context.timeoutMillis }))
        )
    }),
    Effect.map(Result.succeed),
    Effect.catch((e) => Effect.succeed(Result.fail(e.message)))
  )

/**
 * Checks the connection, JetStream (an account-info request) and the given
 * consumers (consumer info: pending and ack-pending counts). Never fails:
 * what does not answer is reported.
 *
 * @since 0.1.0
 * @category checks
 */
export const check: (options?: CheckOptions) => Effect.Effect<HealthReport, never, NatsConnection.NatsConnection> = Effect
  .fn("Health.check")(function*(options?: CheckOptions) {
    const connection = yield* NatsConnection.NatsConnection
    const timeoutMillis = Millis.orElse(options?.timeout, defaultTimeoutMillis, { min: 1 })
    const state = yield* connection.state
    const server = connection.client.isClosed() ? "" : connection.client.getServer()
    const connectionHealth: ConnectionHealth = { state, server, version: connection.server.version.text }
    const targets = options?.consumers ?? []
    const checkJetStream = options?.jetstream ?? true
    if (state !== "connected") {
      const error = `not connected (${state})`
      return {
        status: "down",
        connection: connectionHealth,
        jetstream: checkJetStream ? { ok: false, error } : { ok: true },
        consumers: targets.map((t) => ({ stream: t.stream, consumer: t.consumer, pending: -1, ackPending: -1, ok: false, error }))
      } satisfies HealthReport
    }
    const [jetstream, consumers] = yield* Effect.all([
      checkJetStream
        ? Effect.map(
          probe(() => connection.manager.getAccountInfo(), { operation: "JetStream account info", timeoutMillis }),
          (r): JetStreamHealth => Result.isSuccess(r) ? { ok: true } : { ok: false, error: r.failure }
        )
        : Effect.succeed<JetStreamHealth>({ ok: true }),
      Effect.forEach(targets, (t) =>
        Effect.map(
          probe(() => connection.manager.consumers.info(t.stream, t.consumer), {
            operation: `consumer info ${t.stream}/${t.consumer}`,
            stream: t.stream,
            consumer: t.consumer,
            timeoutMillis
          }),
          (r): ConsumerHealth => {
            if (Result.isFailure(r)) {
              return { stream: t.stream, consumer: t.consumer, pending: -1, ackPending: -1, ok: false, error: r.failure }
            }
            const pending = r.success.num_pending
            const ackPending = r.success.num_ack_pending
            const over = t.maxPending !== undefined && pending > t.maxPending
            return over
              ? { stream: t.stream, consumer: t.consumer, pending, ackPending, ok: false, error: `${pending} messages pending, more than ${t.maxPending}` }
              : { stream: t.stream, consumer: t.consumer, pending, ackPending, ok: true }
          }
        ), { concurrency: "unbounded" })
    ], { concurrency: "unbounded" })
    const healthy = jetstream.ok && consumers.every((c) => c.ok)
    return {
      status: healthy ? "ok" : "degraded",
      connection: connectionHealth,
      jetstream,
      consumers
    } satisfies HealthReport
  })

/**
 * Options of {@link responder}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponderOptions extends CheckOptions {
  /** The subject to answer on (default `health.<service>`). */
  readonly subject?: string | undefined
  /** A queue group, so that one instance of the service answers each request (default: every instance answers). */
  readonly queue?: string | undefined
}

const encoder = new TextEncoder()

/**
 * Answers health requests on `health.<service>` until the scope closes. It
 * is plain core NATS request/reply, not a Herald `Bus` request: any request
 * (`nats req health.orders ''`) gets the {@link HealthReport} as a JSON body
 * with `Content-Type: application/json`; the request's own body and headers
 * are ignored. The subscription is registered on the server when this
 * returns.
 *
 * @since 0.1.0
 * @category responders
 */
export const responder: (
  service: string,
  options?: ResponderOptions
) => Effect.Effect<void, TransportError.TransportError, NatsConnection.NatsConnection | Scope.Scope> = Effect.fn(
  "Health.responder"
)(function*(service: string, options?: ResponderOptions) {
  const connection = yield* NatsConnection.NatsConnection
  const subject = options?.subject ?? `health.${service}`
  const valid = Subject.make(subject)
  if (Result.isFailure(valid)) {
    return yield* Effect.fail(
      TransportError.make(new TransportError.InvalidSubject({ subject, detail: valid.failure.message, cause: valid.failure }))
    )
  }
  const requests = yield* subscribeRaw(connection, subject, { queue: options?.queue, bufferSize: 1_024 })
  const answer = (msg: Msg) =>
    msg.reply === undefined || msg.reply === ""
      ? Effect.void
      : Effect.flatMap(check(options), (report) =>
        Effect.try({
          try: () => {
            const headers = makeHeaders()
            headers.set("Content-Type", "application/json")
            msg.respond(encoder.encode(JSON.stringify(report)), { headers })
          },
          catch: (e) => Errors.fromUnknown(e, { operation: `health reply on ${msg.reply}` })
        }).pipe(Effect.catch((e) => Effect.logWarning(`Health: cannot answer on ${msg.reply}: ${e.message}`))))
  yield* requests.pipe(Stream.runForEach(answer), Effect.forkScoped)
})
