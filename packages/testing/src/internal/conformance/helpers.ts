/**
 * Small effects shared by the conformance tests.
 *
 * @internal
 */
import type { TransportError } from "@herald/transport"
import { EventLog, Topology } from "@herald/transport"
import type * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** Ensures streams and consumers with `Topology.ensure`. @internal */
export const ensure = (
  streams: ReadonlyArray<Topology.StreamConfig>,
  consumers: ReadonlyArray<Topology.ConsumerConfig> = []
): Effect.Effect<ReadonlyArray<Topology.Change>, TransportError.TransportError, Topology.Topology> =>
  Topology.ensure({ streams, consumers })

/** The stored messages of a stream, as `read` streams them. @internal */
export const readAll = (
  stream: string,
  options?: EventLog.ReadOptions
): Effect.Effect<Array<EventLog.StoredMessage>, TransportError.TransportError, EventLog.EventLog> =>
  EventLog.EventLog.use((log) => Stream.runCollect(log.read(stream, options)))

/** Stream info. @internal */
export const info = (
  stream: string
): Effect.Effect<EventLog.StreamInfo, TransportError.TransportError, EventLog.EventLog> => EventLog.EventLog.use((log) => log.info(stream))

/** Consumer lag. @internal */
export const lag = (
  stream: string,
  consumer: string
): Effect.Effect<EventLog.ConsumerLag, TransportError.TransportError, EventLog.EventLog> =>
  EventLog.EventLog.use((log) => log.lag(stream, consumer))

/** The fields of a `ConsumerLag` that the tests compare. @internal */
export const lagCounts = (lag: EventLog.ConsumerLag) => ({
  pending: lag.pending,
  ackPending: lag.ackPending,
  redelivered: lag.redelivered,
  delivered: lag.delivered,
  ackFloor: lag.ackFloor
})

/** The fields of an `AppendResult`. @internal */
export const appended = (result: EventLog.AppendResult) => ({
  stream: result.stream,
  sequence: result.sequence,
  duplicate: result.duplicate
})
