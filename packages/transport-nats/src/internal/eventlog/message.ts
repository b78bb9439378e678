/**
 * JetStream deliveries as Herald sees them: the metadata in the `$JS.ACK`
 * reply subject, the stored headers and body as a `Wire.RawMessage`, and
 * the JetStream status messages of pull requests.
 *
 * @since 0.1.0
 * @internal
 */
import type { Wire } from "@herald/transport"
import type { Msg, MsgHdrs } from "@nats-io/nats-core"

/**
 * What the `$JS.ACK.…` reply subject of a delivery says about it.
 *
 * @internal
 */
export interface AckInfo {
  readonly stream: string
  readonly consumer: string
  readonly deliveryCount: number
  readonly streamSequence: number
  readonly consumerSequence: number
  /** When the message was stored, Unix epoch milliseconds (the server's nanoseconds, floored). */
  readonly timestamp: number
  /** Messages still waiting for the consumer after this one. */
  readonly pending: number
}

const nanosToMillis = (token: string): number => {
  if (!/^\d+$/.test(token)) return Number.NaN
  // Nanoseconds since the epoch exceed 2^53: drop the last six digits as text.
  return token.length <= 6 ? 0 : Number(token.slice(0, token.length - 6))
}

/**
 * Parses a delivery's reply subject: the old form
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` and
 * the new one with domain and account hash after `ACK` (and a random token at
 * the end). `undefined` for anything else.
 *
 * @internal
 */
export const parseAckSubject = (reply: string | undefined): AckInfo | undefined => {
  if (reply === undefined) return undefined
  const tokens = reply.split(".")
  if (tokens[0] !== "$JS" || tokens[1] !== "ACK") return undefined
  const at = tokens.length === 9 ? 2 : tokens.length >= 11 ? 4 : -1
  if (at < 0) return undefined
  const info: AckInfo = {
    stream: tokens[at]!,
    consumer: tokens[at + 1]!,
    deliveryCount: Number(tokens[at + 2]),
    streamSequence: Number(tokens[at + 3]),
    consumerSequence: Number(tokens[at + 4]),
    timestamp: nanosToMillis(tokens[at + 5]!),
    pending: Number(tokens[at + 6])
  }
  return Number.isFinite(info.deliveryCount) && Number.isFinite(info.streamSequence) &&
      Number.isFinite(info.consumerSequence) && Number.isFinite(info.timestamp) && Number.isFinite(info.pending)
    ? info
    : undefined
}

/**
 * Headers JetStream acts on when a message is stored (optimistic-concurrency
 * expectations). nats-server 2.9 stores them with the message; Herald leaves
 * them out of what it reads back, as the in-memory transport never stores
 * them, and so that a dead letter of the message is not refused for the
 * original's expectations.
 *
 * @internal
 */
export const isControlHeader = (name: string): boolean =>
  // (Lower-cased only when it can match: the first letter is an n.)
  name.length >= 14 && (name.charCodeAt(0) | 0x20) === 0x6e && name.toLowerCase().startsWith("nats-expected-")

/**
 * Stored headers as single-valued headers (the first value of each), without
 * JetStream's control headers.
 *
 * @internal
 */
export const headersOf = (h: MsgHdrs | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (h === undefined) return out
  for (const [name, values] of h) {
    if (isControlHeader(name) || values.length === 0) continue
    out[name] = values[0]!
  }
  return out
}

/**
 * A received message's headers and body, and the status of its header block
 * when it has one (a stored message can: `Wire.decodeRaw` refuses it).
 *
 * @internal
 */
export const rawOf = (msg: Msg): Wire.RawMessage => {
  const status = statusLine(msg.headers)
  return status === undefined
    ? { headers: headersOf(msg.headers), body: msg.data }
    : { headers: headersOf(msg.headers), body: msg.data, status }
}

/**
 * The status of a header block (`400 Bad Request` for
 * `NATS/1.0 400 Bad Request`), `undefined` when it has none.
 *
 * @internal
 */
export const statusLine = (h: MsgHdrs | undefined): string | undefined =>
  h === undefined || h.code === 0 ? undefined : `${h.code} ${h.description}`.trim()

/**
 * A JetStream status message (no payload, a status code in the header
 * block): what it says about a pull request.
 *
 * @internal
 */
export interface Status {
  readonly code: number
  readonly description: string
}

/**
 * The status of a message on a pull inbox, `undefined` for a delivery.
 *
 * @internal
 */
export const statusOf = (msg: Msg): Status | undefined => {
  // (A delivery has a body: its headers are not parsed here.)
  if (msg.data.length > 0) return undefined
  const h = msg.headers
  if (h === undefined) return undefined
  const code = h.code
  if (code === 0 || code === 200) return undefined
  return { code, description: h.description }
}

/**
 * Status codes of pull requests.
 *
 * @internal
 */
export const StatusCodes = {
  /** Idle heartbeat. */
  heartbeat: 100,
  /** Malformed request. */
  badRequest: 400,
  /** `no_wait` and nothing to deliver. */
  noMessages: 404,
  /** The request expired (or a `no_wait` request delivered what there was). */
  timeout: 408,
  /** The request ended: consumer deleted, server shutdown, limits exceeded, leadership change. */
  conflict: 409,
  /** Nobody answered the request. */
  noResponders: 503
} as const
