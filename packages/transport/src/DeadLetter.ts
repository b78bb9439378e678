/**
 * The dead-letter format, shared by every transport.
 *
 * A dead letter is the original message with headers saying where it came
 * from and why it could not be handled. It gets a deterministic
 * `Nats-Msg-Id` (`dlq:<stream>:<consumer>:<sequence>`), so storing the same
 * dead letter twice inside the duplicate window keeps one.
 *
 * Storing a dead letter never depends on the original's headers being fit
 * to send again. The body is kept as it was. An original header is kept as
 * a header when it can be sent as it is; every other one is carried in
 * `Herald-Dlq-Escaped-Headers`, a JSON array of `[name, value]` pairs in the
 * order they were stored. A header is escaped when:
 *
 * - its name is not a token (empty, spaces, control characters, a colon,
 *   non-ASCII), or its value contains CR or LF or has leading or trailing
 *   white space (which sending would trim);
 * - its name starts with `Nats-` (nats-server acts on those when it stores
 *   a message: the original's expectations or rollup would refuse the dead
 *   letter) or with `Herald-Dlq-` (the dead letter's own headers). The
 *   original's `Nats-Msg-Id` is left out when it equals its
 *   `Herald-Message-Id` (the dead letter has its own), and escaped when it
 *   differs;
 * - its name was already used (a header with several values keeps the first
 *   as a header, the others escaped).
 *
 * A header block that was a status line (`NATS/1.0 400 Bad Request`) is
 * kept in `Herald-Dlq-Status` (`400 Bad Request`).
 *
 * When the dead letter would exceed the largest message the server takes
 * (`maxPayload`), parts of the original are left out, in this order, until
 * it fits: the escaped headers, then every original header, then the body.
 * `Herald-Dlq-Dropped-Headers` then holds the number of original headers
 * left out, and `Herald-Dlq-Dropped-Body` the size in bytes of the body left
 * out (the dead letter's body is then empty).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as TransportError from "./TransportError.ts"
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
  failedAt: "Herald-Dlq-Failed-At",
  escapedHeaders: "Herald-Dlq-Escaped-Headers",
  status: "Herald-Dlq-Status",
  droppedHeaders: "Herald-Dlq-Dropped-Headers",
  droppedBody: "Herald-Dlq-Dropped-Body"
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
 * A stored message as it was read, before anything was checked: every
 * header line in order (a name may repeat, be empty, or not be a token), the
 * status line of its header block if it had one, and the body.
 *
 * @since 0.1.0
 * @category models
 */
export interface Original {
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>
  /** The status of the header block (`400 Bad Request`), when it had one. */
  readonly status?: string | undefined
  readonly body: Uint8Array
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The largest message the server takes, in bytes (`Wire.payloadSize`): parts of the original are left out to fit. */
  readonly maxPayload?: number | undefined
}

const dlqPrefix = "herald-dlq-"
const natsPrefix = "nats-"
const reasonWhenShrunk = 1024

const startsWithNoCase = (name: string, prefix: string): boolean =>
  name.length >= prefix.length && name.slice(0, prefix.length).toLowerCase() === prefix

/**
 * Whether an original header can be kept as a header of its dead letter.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSendable = (name: string, value: string): boolean =>
  Result.isSuccess(Wire.validateHeader(name, value)) && value === value.trim() &&
  !startsWithNoCase(name, natsPrefix) && !startsWithNoCase(name, dlqPrefix)

const pairsOf = (original: Wire.RawMessage | Original): ReadonlyArray<readonly [string, string]> => {
  if (Array.isArray(original.headers)) return original.headers as ReadonlyArray<readonly [string, string]>
  const record = original.headers as Readonly<Record<string, string>>
  return Object.keys(record).map((name) => [name, record[name]!] as const)
}

/**
 * Builds the dead letter of a message: a message that can always be sent
 * (see the module's description), within `maxPayload` when given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (original: Wire.RawMessage | Original, info: Info, options?: Options): Wire.RawMessage => {
  const kept: Record<string, string> = {}
  const escaped: Array<readonly [string, string]> = []
  const pairs = pairsOf(original)
  let messageId: string | undefined = undefined
  for (const [name, value] of pairs) {
    if (name === Wire.HeaderNames.messageId) {
      messageId = value
      break
    }
  }
  let count = 0
  for (const [name, value] of pairs) {
    if (name === Wire.HeaderNames.natsMsgId && value === messageId) continue
    count++
    if (isSendable(name, value) && !Object.hasOwn(kept, name)) kept[name] = value
    else escaped.push([name, value])
  }
  const status = "status" in original && original.status !== undefined && original.status !== ""
    ? Wire.oneLine(original.status, 256)
    : undefined
  const build = (
    reason: string,
    headers: Readonly<Record<string, string>>,
    escapedJson: string | undefined,
    dropped: { readonly headers: number; readonly body: number | undefined },
    body: Uint8Array
  ): Wire.RawMessage => {
    const out: Record<string, string> = { ...headers }
    if (escapedJson !== undefined) out[HeaderNames.escapedHeaders] = escapedJson
    if (status !== undefined) out[HeaderNames.status] = status
    if (dropped.headers > 0) out[HeaderNames.droppedHeaders] = String(dropped.headers)
    if (dropped.body !== undefined) out[HeaderNames.droppedBody] = String(dropped.body)
    out[Wire.HeaderNames.natsMsgId] = `dlq:${info.stream}:${info.consumer}:${info.sequence}`
    out[HeaderNames.reason] = reason
    out[HeaderNames.stream] = info.stream
    out[HeaderNames.consumer] = info.consumer
    out[HeaderNames.sequence] = String(info.sequence)
    out[HeaderNames.subject] = info.subject
    out[HeaderNames.deliveryCount] = String(info.deliveryCount)
    out[HeaderNames.failedAt] = new Date(info.failedAt).toISOString()
    return { headers: out, body }
  }
  const reason = Wire.oneLine(info.reason)
  const escapedJson = escaped.length === 0 ? undefined : JSON.stringify(escaped)
  const full = build(reason, kept, escapedJson, { headers: 0, body: undefined }, original.body)
  const max = options?.maxPayload
  if (max === undefined || Wire.payloadSize(full) <= max) return full
  // Too large: leave out the escaped headers, then every original header, then the body.
  if (escapedJson !== undefined) {
    const withoutEscaped = build(reason, kept, undefined, { headers: escaped.length, body: undefined }, original.body)
    if (Wire.payloadSize(withoutEscaped) <= max) return withoutEscaped
  }
  const withoutHeaders = build(reason, {}, undefined, { headers: count, body: undefined }, original.body)
  if (Wire.payloadSize(withoutHeaders) <= max) return withoutHeaders
  return build(
    Wire.oneLine(info.reason, reasonWhenShrunk),
    {},
    undefined,
    { headers: count, body: original.body.length },
    new Uint8Array(0)
  )
}

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

/**
 * The original's headers carried by a dead letter, in this order: those kept
 * as headers, then the escaped ones (`Herald-Dlq-Escaped-Headers`). Left
 * out: the dead letter's own headers and its `Nats-Msg-Id`. A malformed
 * escaped list reads as none.
 *
 * @since 0.1.0
 * @category decoding
 */
export const originalHeaders = (message: Wire.RawMessage): ReadonlyArray<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  for (const name of Object.keys(message.headers)) {
    if (startsWithNoCase(name, dlqPrefix) || name === Wire.HeaderNames.natsMsgId) continue
    out.push([name, message.headers[name]!])
  }
  const escaped = message.headers[HeaderNames.escapedHeaders]
  if (escaped === undefined) return out
  const parsed = Result.try((): unknown => JSON.parse(escaped))
  if (Result.isFailure(parsed) || !Array.isArray(parsed.success)) return out
  for (const pair of parsed.success as ReadonlyArray<unknown>) {
    if (Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" && typeof pair[1] === "string") {
      out.push([pair[0], pair[1]])
    }
  }
  return out
}

/**
 * The `Nats-Msg-Id` of a dead letter sent again: `retry:<stream>:<sequence>:<time>`,
 * from where the dead letter is stored and when it failed. It differs from the
 * original's, so JetStream's duplicate window does not swallow the retry, and
 * `Wire.decode` accepts it beside `Herald-Message-Id`, which the retry keeps
 * (an inbox still recognises the message).
 *
 * @since 0.1.0
 * @category constructors
 */
export const retryId = (stream: string, sequence: number, failedAt: number): string =>
  `retry:${stream}:${sequence}:${Math.max(0, Math.floor(failedAt))}`

/**
 * What sending a dead letter again appends: the original subject, and the
 * original body and headers with a fresh `Nats-Msg-Id` ({@link retryId}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Retry {
  readonly subject: string
  readonly message: Wire.RawMessage
  readonly info: Info
}

const refuse = (stream: string, sequence: number, why: string) =>
  Result.fail(
    TransportError.make(
      new TransportError.EncodeError({ detail: `dead letter ${sequence} of ${stream} cannot be sent again: ${why}` })
    )
  )

/**
 * The message that sends the dead letter stored at `sequence` of `stream`
 * again. The original's headers come back as they were (`originalHeaders`),
 * without the `Nats-*` ones (the original's expectations are not replayed)
 * and with {@link retryId} as `Nats-Msg-Id`. Refused with an `EncodeError`
 * naming why: a message without the dead-letter headers, a dead letter that
 * left out parts of the original (`Herald-Dlq-Dropped-*`), an original whose
 * header block was a status line, or an original header that cannot be sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const retry = (
  stream: string,
  sequence: number,
  message: Wire.RawMessage
): Result.Result<Retry, TransportError.TransportError> => {
  const info = parse(message)
  if (info === undefined) return refuse(stream, sequence, "it is not a dead letter (no Herald-Dlq-* headers)")
  const h = message.headers
  if (h[HeaderNames.droppedBody] !== undefined || h[HeaderNames.droppedHeaders] !== undefined) {
    return refuse(stream, sequence, "it left out parts of the original to fit the server's max_payload")
  }
  if (h[HeaderNames.status] !== undefined) {
    return refuse(stream, sequence, `the original's header block was a status line (${h[HeaderNames.status]})`)
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of originalHeaders(message)) {
    if (startsWithNoCase(name, natsPrefix)) continue
    const valid = Wire.validateHeader(name, value)
    if (Result.isFailure(valid)) return refuse(stream, sequence, valid.failure.message)
    if (!Object.hasOwn(headers, name)) headers[name] = value
  }
  headers[Wire.HeaderNames.natsMsgId] = retryId(stream, sequence, info.failedAt)
  return Result.succeed({ subject: info.subject, message: { headers, body: message.body }, info })
}
