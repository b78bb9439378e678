/**
 * The dead-letter format, shared by every transport.
 *
 * A dead letter is the original message (its headers and body unchanged) with
 * headers saying where it came from and why it could not be handled. It gets
 * a deterministic `Nats-Msg-Id` (`dlq:<stream>:<consumer>:<sequence>`), so
 * storing the same dead letter twice inside the duplicate window keeps one.
 *
 * @since 0.1.0
 */
import * as Wire from "./Wire.ts"

/**
 * Header names of a dead letter.
 *
 * @since 0.1.0
 * @category constants
 */
export const HeaderNames = {
  reason: "Herald-Dlq-Reason",
  stream: "Herald-Dlq-Stream",
  consumer: "Herald-Dlq-Consumer",
  sequence: "Herald-Dlq-Sequence",
  subject: "Herald-Dlq-Subject",
  deliveryCount: "Herald-Dlq-Delivery-Count",
  failedAt: "Herald-Dlq-Failed-At"
} as const

/**
 * Why and where a message failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Info {
  readonly reason: string
  readonly stream: string
  readonly consumer: string
  readonly sequence: number
  readonly subject: string
  readonly deliveryCount: number
  /** Unix epoch milliseconds. */
  readonly failedAt: number
}

/**
 * Builds the dead letter of a message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (original: Wire.RawMessage, info: Info): Wire.RawMessage => ({
  headers: {
    ...original.headers,
    [Wire.HeaderNames.natsMsgId]: `dlq:${info.stream}:${info.consumer}:${info.sequence}`,
    [HeaderNames.reason]: Wire.oneLine(info.reason),
    [HeaderNames.stream]: info.stream,
    [HeaderNames.consumer]: info.consumer,
    [HeaderNames.sequence]: String(info.sequence),
    [HeaderNames.subject]: info.subject,
    [HeaderNames.deliveryCount]: String(info.deliveryCount),
    [HeaderNames.failedAt]: new Date(info.failedAt).toISOString()
  },
  body: original.body
})

/**
 * Reads the dead-letter headers back, `undefined` when they are missing.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parse = (message: Wire.RawMessage): Info | undefined => {
  const h = message.headers
  const reason = h[HeaderNames.reason]
  const stream = h[HeaderNames.stream]
  const consumer = h[HeaderNames.consumer]
  const subject = h[HeaderNames.subject]
  const sequence = Number(h[HeaderNames.sequence])
  const deliveryCount = Number(h[HeaderNames.deliveryCount])
  const failedAt = Date.parse(h[HeaderNames.failedAt] ?? "")
  if (
    reason === undefined || stream === undefined || consumer === undefined || subject === undefined ||
    !Number.isFinite(sequence) || !Number.isFinite(deliveryCount) || !Number.isFinite(failedAt)
  ) return undefined
  return { reason, stream, consumer, subject, sequence, deliveryCount, failedAt }
}
