/**
 * Maintenance on JetStream that the transport contracts do not cover: the
 * consumers of a stream with their state, and the removal of one stored
 * message by sequence.
 *
 * ```ts
 * import { NatsAdmin } from "@herald/transport-nats"
 *
 * const reports = NatsAdmin.consumers("ORDERS") // every consumer of ORDERS, with its lag and last activity
 * const removed = NatsAdmin.deleteMessage("HERALD_DLQ", 42) // true, or false when nothing is stored at 42
 * ```
 *
 * Both need a `NatsConnection`. A stream that does not exist fails with
 * `StreamNotFound`; a sequence that is not a positive integer with
 * `InvalidConfig`, before anything is sent.
 *
 * @since 0.1.0
 */
import type { EventLog } from "@herald/transport"
import { Topology, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Errors from "./internal/errors.ts"
import { listAll } from "./internal/topology/topology.ts"
import * as NatsConnection from "./NatsConnection.ts"
import * as NatsTopology from "./NatsTopology.ts"

/**
 * A consumer of a stream: its lag (as `EventLog.lag` reports it) and what
 * `nats consumer report` shows besides.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerReport extends EventLog.ConsumerLag {
  /** The subject filter, when it has one. */
  readonly filterSubject: string | undefined
  /** Ack wait in milliseconds. */
  readonly ackWait: number
  /** Deliveries allowed per message; `0` for unlimited. */
  readonly maxDeliver: number
  /** Pull requests waiting on the consumer. */
  readonly waiting: number
  /** When a message was last delivered (Unix epoch milliseconds), if the server says. */
  readonly lastActive: number | undefined
  /** Where its dead letters go (`Topology.deadLetterSubject`). */
  readonly deadLetterSubject: string
}

const nanosToMillis = (nanos: number | undefined): number => nanos === undefined ? 0 : Math.ceil(nanos / 1_000_000)

// nats-server sends `last_active` as an RFC 3339 time (omitted before the first delivery).
const lastActiveOf = (value: unknown): number | undefined => {
  if (typeof value === "string") {
    const at = Date.parse(value)
    return Number.isFinite(at) && at > 0 ? at : undefined
  }
  if (typeof value === "number" && value > 0) return Math.floor(value / 1_000_000)
  return undefined
}

/**
 * Every consumer of a stream, by name.
 *
 * @since 0.1.0
 * @category inspection
 */
export const consumers = (
  stream: string
): Effect.Effect<ReadonlyArray<ConsumerReport>, TransportError.TransportError, NatsConnection.NatsConnection> =>
  Effect.gen(function*() {
    const valid = Topology.validateName("stream", stream)
    if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    const connection = yield* NatsConnection.NatsConnection
    const context = { operation: `list the consumers of ${stream}`, stream, timeoutMillis: connection.jetstreamTimeoutMillis }
    const infos = yield* listAll(() => connection.manager.consumers.list(stream), context)
    return infos
      .map((ci): ConsumerReport => ({
        stream,
        consumer: ci.name,
        pending: ci.num_pending,
        ackPending: ci.num_ack_pending,
        redelivered: ci.num_redelivered,
        delivered: ci.delivered.stream_seq,
        ackFloor: ci.ack_floor.stream_seq,
        filterSubject: ci.config.filter_subject === undefined || ci.config.filter_subject === ""
          ? undefined
          : ci.config.filter_subject,
        ackWait: nanosToMillis(ci.config.ack_wait),
        maxDeliver: ci.config.max_deliver === undefined || ci.config.max_deliver < 0 ? 0 : ci.config.max_deliver,
        waiting: ci.num_waiting,
        lastActive: lastActiveOf(ci.delivered.last_active as unknown),
        deadLetterSubject: NatsTopology.deadLetterSubjectOf(ci.config.description) ??
          Topology.deadLetterSubject({ stream, name: ci.name })
      }))
      .sort((a, b) => a.consumer < b.consumer ? -1 : a.consumer > b.consumer ? 1 : 0)
  }).pipe(Effect.withSpan("NatsAdmin.consumers"))

/**
 * Removes the message stored at `sequence` (`STREAM.MSG.DELETE`): `true`
 * when it was there, `false` when nothing is stored at that sequence
 * (never stored, deleted, purged, or past the last sequence). The last
 * sequence stays.
 *
 * @since 0.1.0
 * @category maintenance
 */
export const deleteMessage = (
  stream: string,
  sequence: number
): Effect.Effect<boolean, TransportError.TransportError, NatsConnection.NatsConnection> =>
  Effect.gen(function*() {
    const validName = Topology.validateName("stream", stream)
    if (Result.isFailure(validName)) return yield* Effect.fail(validName.failure)
    if (!Number.isSafeInteger(sequence) || sequence < 1) {
      return yield* Effect.fail(
        TransportError.make(
          new TransportError.InvalidConfig({
            detail: `delete from ${stream}: sequence must be a positive integer, got ${String(sequence)}`
          })
        )
      )
    }
    const connection = yield* NatsConnection.NatsConnection
    const context = {
      operation: `delete sequence ${sequence} of ${stream}`,
      stream,
      timeoutMillis: connection.jetstreamTimeoutMillis
    }
    return yield* Effect.tryPromise({
      try: () => connection.manager.streams.deleteMessage(stream, sequence, false),
      catch: (e) => Errors.fromUnknown(e, context)
    }).pipe(
      Effect.catchReason("TransportError", "Unknown", (reason) =>
        /no message found|sequence \d+ not found|stream store EOF/i.test(reason.detail) ? Effect.succeed(false) : Effect.fail(TransportError.make(reason)))
    )
  }).pipe(Effect.withSpan("NatsAdmin.deleteMessage"))
