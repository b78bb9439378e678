/**
 * Small helpers of the NATS `EventLog`: nanoseconds, a consumer's settings as
 * the runner needs them.
 *
 * @since 0.1.0
 * @internal
 */
import { Topology } from "@herald/transport"
import type { ConsumerInfo } from "@nats-io/jetstream"
import * as Duration from "effect/Duration"
import { decodeDescription } from "../topology/config.ts"

/**
 * Milliseconds as JetStream nanoseconds.
 *
 * @internal
 */
export const nanos = (ms: number): number => Math.max(0, Math.round(ms * 1_000_000))

const defaultAckWaitMillis = 30_000

/**
 * What the consumer runner and dead-lettering need of a consumer.
 *
 * @internal
 */
export interface ConsumerSettings {
  /** Herald's view of the consumer, for `ConsumerPolicy` and `Topology.deadLetterSubject`. */
  readonly config: Topology.ConsumerConfig
  /** `undefined`: unlimited. */
  readonly maxDeliver: number | undefined
  /** `undefined`: unlimited. */
  readonly maxAckPending: number | undefined
  readonly deadLetterSubject: string
  /** The consumer's ack wait (`ack_wait`; the server's default 30 s when absent). */
  readonly ackWaitMillis: number
}

/**
 * A consumer's settings from its `ConsumerInfo`: limits, backoff, and the
 * dead-letter subject the Topology keeps in its description.
 *
 * @internal
 */
export const settingsOf = (stream: string, name: string, info: ConsumerInfo): ConsumerSettings => {
  const c = info.config
  const maxDeliver = c.max_deliver !== undefined && c.max_deliver > 0 ? c.max_deliver : undefined
  const maxAckPending = c.max_ack_pending !== undefined && c.max_ack_pending > 0 ? c.max_ack_pending : undefined
  const backoff = (c.backoff ?? []).map((ns) => Duration.millis(ns / 1_000_000))
  const { deadLetterSubject } = decodeDescription(c.description)
  const config: Topology.ConsumerConfig = {
    stream,
    name,
    ...(maxDeliver === undefined ? {} : { maxDeliver }),
    ...(maxAckPending === undefined ? {} : { maxAckPending }),
    ...(backoff.length === 0 ? {} : { backoff }),
    ...(deadLetterSubject === undefined ? {} : { deadLetterSubject })
  }
  const ackWaitMillis = c.ack_wait !== undefined && c.ack_wait > 0 ? c.ack_wait / 1_000_000 : defaultAckWaitMillis
  return { config, maxDeliver, maxAckPending, deadLetterSubject: Topology.deadLetterSubject(config), ackWaitMillis }
}
