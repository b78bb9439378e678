/**
 * JetStream deliveries as Herald sees them: the metadata in the `$JS.ACK`
 * reply subject, the stored headers and body as a `Wire.RawMessage`, and
 * the JetStream status messages of pull requests.
 *
 * @since 0.1.0
 * @internal
 */
import type { DeadLetter, Wire } from "@herald/transport"
import type { StoredMsg } from "@nats-io/jetstream"
import type { Msg, MsgHdrs } from "@nats-io/nats-core"
import * as Result from "effect/Result"

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

const textDecoder = new TextDecoder()
const statusPrefix = "NATS/1.0"

/**
 * Reads a header block as stored, whatever it holds: its status (the rest of
 * the first line after `NATS/1.0`, when there is any) and every line after
 * it as a `[name, value]` pair, in order, as nats.js reads them (the name up
 * to the first colon, the value trimmed), but without refusing any name. A
 * line without a colon is kept as a name with an empty value.
 *
 * @internal
 */
export const parseHeaderBlock = (block: Uint8Array): Pick<DeadLetter.Original, "headers" | "status"> => {
  const lines = textDecoder.decode(block).split("\r\n")
  const first = lines[0] ?? ""
  const rest = first.startsWith(statusPrefix) ? first.slice(statusPrefix.length).trim() : first.trim()
  const headers: Array<readonly [string, string]> = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line === "") continue
    const colon = line.indexOf(":")
    headers.push(colon < 0 ? [line, ""] : [line.slice(0, colon), line.slice(colon + 1).trim()])
  }
  return rest === "" ? { headers } : { headers, status: rest }
}

// nats.js 3.4 keeps a message's bytes in `_rdata` and the header block's
// length in `_msg.hdr` (-1: none), and a stored message's header block in
// `smr.message.hdrs` (base64). Its own header parser refuses names that are
// not printable ASCII (the `headers` getter throws), so the block is read
// from those bytes; when they are not where nats.js 3.4 keeps them, from the
// `headers` getter.
interface MsgInternals {
  readonly _rdata?: unknown
  readonly _msg?: { readonly hdr?: unknown }
}
interface StoredInternals {
  readonly smr?: { readonly message?: { readonly hdrs?: unknown } }
}

const fromParsed = (h: MsgHdrs | undefined): Pick<DeadLetter.Original, "headers" | "status"> => {
  if (h === undefined) return { headers: [] }
  const headers: Array<readonly [string, string]> = []
  for (const [name, values] of h) for (const value of values) headers.push([name, value])
  return h.code === 0 ? { headers } : { headers, status: `${h.code} ${h.description}`.trim() }
}

const parsedOrUnreadable = (
  read: () => MsgHdrs | undefined
): Pick<DeadLetter.Original, "headers" | "status"> | string => {
  const parsed = Result.try({ try: read, catch: (e) => (e instanceof Error ? e.message : String(e)) })
  return Result.isSuccess(parsed) ? fromParsed(parsed.success) : parsed.failure
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
 * A stored message read completely: every header line, the status of its
 * header block, the body; or the reason its header block cannot be read.
 *
 * @internal
 */
export interface Stored {
  readonly original: DeadLetter.Original
  /** Why the header block could not be read (then `original.headers` is empty). */
  readonly unreadable?: string | undefined
}

const storedOf = (
  block: Pick<DeadLetter.Original, "headers" | "status"> | string,
  body: Uint8Array
): Stored =>
  typeof block === "string"
    ? { original: { headers: [], body }, unreadable: block }
    : { original: { ...block, body } }

/**
 * Reads a delivered message completely.
 *
 * @internal
 */
export const storedOfMsg = (msg: Msg): Stored => {
  const internals = msg as unknown as MsgInternals
  const data = internals._rdata
  const hdr = internals._msg?.hdr
  if (data instanceof Uint8Array && typeof hdr === "number") {
    return storedOf(hdr > 0 ? parseHeaderBlock(data.subarray(0, hdr)) : { headers: [] }, msg.data)
  }
  return storedOf(parsedOrUnreadable(() => msg.headers), msg.data)
}

/**
 * Reads a message got by sequence completely.
 *
 * @internal
 */
export const storedOfStoredMsg = (stored: StoredMsg): Stored => {
  const hdrs = (stored as unknown as StoredInternals).smr?.message?.hdrs
  if (typeof hdrs === "string") return storedOf(parseHeaderBlock(Buffer.from(hdrs, "base64")), stored.data)
  if (hdrs === undefined || hdrs === null) {
    const fallback = parsedOrUnreadable(() => stored.header)
    return storedOf(fallback, stored.data)
  }
  return storedOf({ headers: [] }, stored.data)
}

/**
 * What a handler sees of a stored message: single-valued headers (the first
 * value of each name), without JetStream's control headers.
 *
 * @internal
 */
export const rawOfStored = (stored: Stored): Wire.RawMessage => {
  const headers: Record<string, string> = {}
  for (const [name, value] of stored.original.headers) {
    if (isControlHeader(name) || Object.hasOwn(headers, name)) continue
    headers[name] = value
  }
  const status = stored.original.status
  return status === undefined
    ? { headers, body: stored.original.body }
    : { headers, body: stored.original.body, status }
}

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
 * Whether a message is a delivery of a stored message: it has a `$JS.ACK`
 * reply subject, which only a delivery has (a status message has no reply
 * subject), whatever its header block says.
 *
 * @internal
 */
export const isDelivery = (msg: Msg): boolean => {
  const reply = msg.reply
  return reply !== undefined && reply.startsWith("$JS.ACK.")
}

/**
 * The status of a message on a pull inbox, `undefined` for a delivery
 * (`isDelivery`) and for anything else without a status.
 *
 * @internal
 */
export const statusOf = (msg: Msg): Status | undefined => {
  // (A status message has no body; a delivery is told by its reply subject.)
  if (msg.data.length > 0 || isDelivery(msg)) return undefined
  const h = Result.getOrUndefined(Result.try(() => msg.headers))
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

/**
 * A received message's headers and body as a handler sees them, and the
 * status of its header block when it has one (`Wire.decodeRaw` refuses it).
 *
 * @internal
 */
export const rawOf = (msg: Msg): Wire.RawMessage => rawOfStored(storedOfMsg(msg))
