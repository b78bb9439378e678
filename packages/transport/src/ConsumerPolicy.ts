/**
 * What a consumer runner does with a handler's outcome. Shared by every
 * transport so that they settle messages the same way.
 *
 * - success: ack;
 * - a retryable failure before the last allowed delivery: nak, after the
 *   delay of `nakDelay` (default: the consumer's backoff by delivery count,
 *   else 1 s doubling up to 30 s);
 * - a non-retryable failure, or any failure on the last allowed delivery:
 *   dead-letter with the reason, then term.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Topology from "./Topology.ts"
import * as TransportError from "./TransportError.ts"

/**
 * The settlement of a failed delivery.
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Nak"; readonly delay: Duration.Duration }
  | { readonly _tag: "DeadLetter"; readonly reason: string }

/**
 * The default nak delay: the consumer's backoff step for this delivery (the
 * last step repeats), else 1 s doubling up to 30 s.
 *
 * @since 0.1.0
 * @category policies
 */
export const defaultNakDelay = (
  config: Pick<Topology.ConsumerConfig, "backoff">,
  deliveryCount: number
): Duration.Duration => {
  const backoff = config.backoff
  if (backoff !== undefined && backoff.length > 0) {
    return Duration.fromInputUnsafe(backoff[Math.min(deliveryCount, backoff.length) - 1]!)
  }
  return Duration.millis(Math.min(30_000, 1000 * 2 ** Math.min(Math.max(deliveryCount - 1, 0), 5)))
}

/**
 * Decides what to do with a failed delivery.
 *
 * @since 0.1.0
 * @category policies
 */
export const decide = (options: {
  readonly error: unknown
  readonly deliveryCount: number
  readonly maxDeliver: number | undefined
  readonly nakDelay: (deliveryCount: number) => Duration.Input
}): Decision => {
  const reason = TransportError.describe(options.error)
  if (!TransportError.isRetryable(options.error)) {
    return { _tag: "DeadLetter", reason: `non-retryable failure: ${reason}` }
  }
  if (options.maxDeliver !== undefined && options.maxDeliver > 0 && options.deliveryCount >= options.maxDeliver) {
    return {
      _tag: "DeadLetter",
      reason: `failed on delivery ${options.deliveryCount} of ${options.maxDeliver}: ${reason}`
    }
  }
  return { _tag: "Nak", delay: Duration.fromInputUnsafe(options.nakDelay(options.deliveryCount)) }
}

/**
 * The reason recorded when a message reached `maxDeliver` through ack
 * timeouts, without a handler failure to blame.
 *
 * @since 0.1.0
 * @category policies
 */
export const maxDeliveriesReason = (maxDeliver: number): string =>
  `not acknowledged after ${maxDeliver} deliveries (ack wait exhausted)`
