/**
 * The stream and consumer reports of `herald streams` and `herald
 * consumers`, modelled on `nats stream report` and `nats consumer report`.
 *
 * @since 0.1.0
 */
import { EventLog, Topology } from "@herald/transport"
import { NatsAdmin, type NatsConnection } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as CommandError from "./CommandError.ts"
import * as Format from "./Format.ts"

/**
 * One stream of `herald streams`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamReport {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  readonly messages: number
  readonly bytes: number
  /** 0 when the stream is empty. */
  readonly firstSequence: number
  readonly lastSequence: number
  readonly consumers: number
}

/**
 * One consumer of `herald consumers STREAM`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerReport {
  readonly name: string
  readonly filterSubject: string | null
  /** Milliseconds. */
  readonly ackWait: number
  /** 0 for unlimited. */
  readonly maxDeliver: number
  /** Matching messages not yet delivered. */
  readonly pending: number
  /** Delivered, not yet acknowledged. */
  readonly ackPending: number
  readonly redelivered: number
  /** Highest stream sequence delivered. */
  readonly delivered: number
  /** Stream sequence at and below which everything is acknowledged. */
  readonly ackFloor: number
  /** Pull requests waiting. */
  readonly waiting: number
  /** ISO-8601 time of the last delivery, `null` before the first. */
  readonly lastActive: string | null
  readonly deadLetterSubject: string
}

/**
 * Every stream, by name, with its state.
 *
 * @since 0.1.0
 * @category reports
 */
export const streams: Effect.Effect<
  ReadonlyArray<StreamReport>,
  CommandError.CommandError,
  EventLog.EventLog | Topology.Topology
> = Effect.gen(function*() {
  const topology = yield* Topology.Topology
  const log = yield* EventLog.EventLog
  const configs = yield* topology.listStreams
  const names = configs.map((c) => c.name).sort()
  return yield* Effect.forEach(names, (name) =>
    Effect.map(log.info(name), (info): StreamReport => ({
      name: info.name,
      subjects: info.subjects,
      messages: info.messages,
      bytes: info.bytes,
      firstSequence: info.firstSequence,
      lastSequence: info.lastSequence,
      consumers: info.consumers
    })), { concurrency: 8 })
}).pipe(Effect.mapError(CommandError.transport))

/**
 * Every consumer of a stream, by name, with its state.
 *
 * @since 0.1.0
 * @category reports
 */
export const consumers = (
  stream: string
): Effect.Effect<ReadonlyArray<ConsumerReport>, CommandError.CommandError, NatsConnection.NatsConnection> =>
  NatsAdmin.consumers(stream).pipe(
    Effect.map((reports) =>
      reports.map((r): ConsumerReport => ({
        name: r.consumer,
        filterSubject: r.filterSubject ?? null,
        ackWait: r.ackWait,
        maxDeliver: r.maxDeliver,
        pending: r.pending,
        ackPending: r.ackPending,
        redelivered: r.redelivered,
        delivered: r.delivered,
        ackFloor: r.ackFloor,
        waiting: r.waiting,
        lastActive: r.lastActive === undefined ? null : new Date(r.lastActive).toISOString(),
        deadLetterSubject: r.deadLetterSubject
      }))
    ),
    Effect.mapError(CommandError.transport)
  )

/**
 * The streams as a table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const streamsTable = (reports: ReadonlyArray<StreamReport>): string =>
  Format.table(
    ["Stream", "Subjects", "Messages", "Bytes", "First", "Last", "Consumers"],
    reports.map((r) => [
      r.name,
      r.subjects.join(", "),
      String(r.messages),
      Format.bytes(r.bytes),
      String(r.firstSequence),
      String(r.lastSequence),
      String(r.consumers)
    ]),
    ["left", "left", "right", "right", "right", "right", "right"]
  )

/**
 * The consumers of a stream as a table; `now` for the last activity.
 *
 * @since 0.1.0
 * @category formatting
 */
export const consumersTable = (stream: string, reports: ReadonlyArray<ConsumerReport>, now: number): string =>
  `Consumers of ${stream}\n\n` + Format.table(
    ["Consumer", "Filter", "Ack Wait", "Max Deliver", "Pending", "Ack Pending", "Redelivered", "Ack Floor", "Last Active"],
    reports.map((r) => [
      r.name,
      r.filterSubject ?? ">",
      Format.duration(r.ackWait),
      r.maxDeliver === 0 ? "unlimited" : String(r.maxDeliver),
      String(r.pending),
      String(r.ackPending),
      String(r.redelivered),
      String(r.ackFloor),
      r.lastActive === null ? "never" : Format.ago(Date.parse(r.lastActive), now)
    ]),
    ["left", "left", "right", "right", "right", "right", "right", "right", "right"]
  )
