/**
 * The wire format: an envelope as NATS headers plus body bytes, and back.
 *
 * Identity and metadata travel in headers so that routing, dedupe and tracing
 * need no body decoding:
 *
 * | header | value |
 * |---|---|
 * | `Nats-Msg-Id` | the message id (JetStream's dedupe id) |
 * | `Herald-Message-Id`, `Herald-Correlation-Id`, `Herald-Causation-Id` | the identity |
 * | `Herald-Type` | the message type name |
 * | `Herald-Kind` | `event`, `command`, `query` or `reply` |
 * | `Herald-Occurred-At` | ISO-8601 UTC time |
 * | `Content-Type` | the body's content type |
 *
 * Any other header (for instance `traceparent`) is carried through as an
 * extra header. Decoding never throws: a missing or malformed header is a
 * `DecodeError` naming the header. Decoding applies the header rules that
 * encoding applies (every name a token, no CR or LF in a value, no status
 * line), and a `Nats-Msg-Id` that is not the message id is refused, except
 * the dead-letter id (`dlq:<stream>:<consumer>:<sequence>`) that a dead
 * letter carries and the retry id (`retry:<stream>:<sequence>:<time>`) of a
 * dead letter sent again (`DeadLetter.retry`).
 *
 * @since 0.1.0
 */
import { type Ids, MessageIdentity } from "@herald/identity"
import * as Result from "effect/Result"
import * as Envelope from "./Envelope.ts"
import { quote, typeName } from "./internal/quote.ts"
import * as TransportError from "./TransportError.ts"

/**
 * Header names used by Herald.
 *
 * @since 0.1.0
 * @category constants
 */
export const HeaderNames = {
  natsMsgId: "Nats-Msg-Id",
  messageId: MessageIdentity.HeaderNames.messageId,
  correlationId: MessageIdentity.HeaderNames.correlationId,
  causationId: MessageIdentity.HeaderNames.causationId,
  type: "Herald-Type",
  kind: "Herald-Kind",
  occurredAt: "Herald-Occurred-At",
  contentType: "Content-Type",
  expectedLastSequence: "Nats-Expected-Last-Sequence",
  expectedLastSubjectSequence: "Nats-Expected-Last-Subject-Sequence",
  expectedStream: "Nats-Expected-Stream",
  error: "Herald-Error"
} as const

const reservedNames: ReadonlyArray<string> = [
  HeaderNames.natsMsgId,
  HeaderNames.messageId,
  HeaderNames.correlationId,
  HeaderNames.causationId,
  HeaderNames.type,
  HeaderNames.kind,
  HeaderNames.occurredAt,
  HeaderNames.contentType
]
// The names as Herald writes them are looked up first: no lower-casing for the common case.
const reservedExact = new Set<string>(reservedNames)
const reserved = new Set<string>(reservedNames.map((h) => h.toLowerCase()))

/**
 * Returns `true` for a header that Herald writes itself (compared without case).
 *
 * @since 0.1.0
 * @category guards
 */
export const isReservedHeader = (name: string): boolean => reservedExact.has(name) || reserved.has(name.toLowerCase())

/**
 * A message as bytes on the wire: single-valued headers and a body.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawMessage {
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  /**
   * The status of the header block (`503 No Responders` for
   * `NATS/1.0 503 No Responders`), when it has one. Herald never writes one,
   * and {@link decodeRaw} refuses a message that has one.
   */
  readonly status?: string | undefined
}

// RFC 7230 token characters, which is what NATS accepts in a header name.
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Checks a header name and value: the name is a token (no spaces, no colon),
 * the value has no CR or LF.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateHeader = (name: string, value: string): Result.Result<void, TransportError.TransportError> => {
  const problem = headerProblem(name, value)
  return problem === undefined
    ? Result.void
    : Result.fail(TransportError.make(new TransportError.EncodeError({ detail: problem })))
}

/**
 * What is wrong with a header, or `undefined`: the rules {@link encode}
 * applies and {@link decodeRaw} applies again.
 */
const headerProblem = (name: unknown, value: unknown): string | undefined => {
  if (typeof name !== "string" || !headerName.test(name)) {
    return `header name ${typeof name === "string" ? quote(name) : typeName(name)} is not a token`
  }
  if (typeof value !== "string") return `header ${quote(name)}: the value is ${typeName(value)}, not a string`
  if (value.includes("\r") || value.includes("\n")) return `header ${quote(name)}: value contains CR or LF`
  return undefined
}

// Sets a header on a fresh record: `__proto__` becomes an own property.
const setHeader = (headers: Record<string, string>, name: string, value: string): void => {
  if (name === "__proto__") {
    Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true })
  } else {
    headers[name] = value
  }
}

/**
 * Encodes an envelope as headers and body. Fails with `EncodeError` when an
 * extra header has an invalid name or value, or tries to override one that
 * Herald writes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (envelope: Envelope.Envelope): Result.Result<RawMessage, TransportError.TransportError> => {
  const headers: Record<string, string> = {}
  for (const name in envelope.headers) {
    const value = envelope.headers[name]!
    if (isReservedHeader(name)) {
      return Result.fail(
        TransportError.make(new TransportError.EncodeError({ detail: `header ${name} is reserved by Herald` }))
      )
    }
    const valid = validateHeader(name, value)
    if (Result.isFailure(valid)) return Result.fail(valid.failure)
    setHeader(headers, name, value)
  }
  if (!headerSafe(envelope.type)) {
    return Result.fail(
      TransportError.make(new TransportError.EncodeError({ detail: `type ${quote(envelope.type)} is empty or contains CR/LF` }))
    )
  }
  if (!Number.isFinite(envelope.occurredAt)) {
    return Result.fail(
      TransportError.make(new TransportError.EncodeError({ detail: `occurredAt ${envelope.occurredAt} is not a time` }))
    )
  }
  const id = envelope.identity
  headers[HeaderNames.natsMsgId] = id.messageId
  headers[HeaderNames.messageId] = id.messageId
  headers[HeaderNames.correlationId] = id.correlationId
  headers[HeaderNames.causationId] = id.causationId
  headers[HeaderNames.type] = envelope.type
  headers[HeaderNames.kind] = envelope.kind
  headers[HeaderNames.occurredAt] = isoOf(envelope.occurredAt)
  headers[HeaderNames.contentType] = envelope.contentType
  return Result.succeed({ headers, body: envelope.body })
}

// The last time formatted, and parsed: messages sent or received together
// mostly share their millisecond, and formatting a `Date` costs about as much
// as the rest of `encode`.
let lastFormatted = Number.NaN
let lastIso = ""
let lastParsedText = ""
let lastParsed = Number.NaN

const isoOf = (millis: number): string => {
  if (millis !== lastFormatted) {
    lastIso = new Date(millis).toISOString()
    lastFormatted = millis
  }
  return lastIso
}

const headerSafe = (s: string): boolean =>
  typeof s === "string" && s.length > 0 && !s.includes("\r") && !s.includes("\n")

const decodeError = (detail: string, header?: string): TransportError.TransportError =>
  TransportError.make(
    header === undefined
      ? new TransportError.DecodeError({ detail })
      : new TransportError.DecodeError({ detail, header })
  )

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

const parseTime = (text: string): number => {
  if (text === lastParsedText) return lastParsed
  const millis = isoTime.test(text) ? Date.parse(text) : Number.NaN
  lastParsedText = text
  lastParsed = millis
  return millis
}

// The `Nats-Msg-Id` of a dead letter (`DeadLetter.make`): derived from where
// the message failed, not from its id.
const deadLetterId = /^dlq:\S+:\S+:\d+$/
// The `Nats-Msg-Id` of a dead letter sent again (`DeadLetter.retry`): fresh,
// so that the duplicate window does not swallow it.
const retryId = /^retry:\S+:\d+:\d+$/

/**
 * Decodes headers and body into an envelope. `lookup` returns a header's first
 * value, or `undefined` (an empty string counts as missing); `names` lists the
 * header names present, so that extra headers are carried through; `status`
 * is the status of the header block, if it has one.
 *
 * Fails with a `DecodeError` (never throws) when a header name is not a token,
 * a value is not a string or holds CR or LF, the header block has a status, an
 * identity header or `Herald-Type`, `Herald-Kind` or `Herald-Occurred-At` is
 * missing or malformed, or `Nats-Msg-Id` is neither the message id nor a
 * dead-letter or retry id.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (
  lookup: (name: string) => string | undefined,
  names: Iterable<string>,
  body: Uint8Array,
  status?: string | undefined
): Result.Result<Envelope.Envelope, TransportError.TransportError> => {
  if (typeof lookup !== "function") return Result.fail(decodeError(`the header lookup is ${typeName(lookup)}`))
  if (!isIterable(names)) return Result.fail(decodeError(`the header names are ${typeName(names)}, not a list`))
  if (!(body instanceof Uint8Array)) return Result.fail(decodeError(`the body is ${typeName(body)}, not bytes`))
  if (status !== undefined) {
    return Result.fail(
      decodeError(`the header block has a status line (${typeof status === "string" ? quote(status) : typeName(status)})`)
    )
  }
  const headers: Record<string, string> = {}
  for (const name of names as Iterable<unknown>) {
    if (typeof name !== "string" || !headerName.test(name)) return Result.fail(decodeError(headerProblem(name, "")!))
    const value: unknown = lookup(name)
    if (value === undefined) continue
    const problem = headerProblem(name, value)
    if (problem !== undefined) return Result.fail(decodeError(problem))
    if (!isReservedHeader(name)) setHeader(headers, name, value as string)
  }
  const identity = MessageIdentity.fromHeaders(lookup)
  if (Result.isFailure(identity)) {
    const reason = identity.failure.reason
    return Result.fail(decodeError(identity.failure.message, reason.header))
  }
  const messageId: string = identity.success.messageId
  const natsId: unknown = lookup(HeaderNames.natsMsgId)
  if (natsId !== undefined && natsId !== messageId && !(typeof natsId === "string" && (deadLetterId.test(natsId) || retryId.test(natsId)))) {
    return Result.fail(
      decodeError(
        `${typeof natsId === "string" ? quote(natsId) : typeName(natsId)} is not the message id ${quote(messageId)}`,
        HeaderNames.natsMsgId
      )
    )
  }
  const type: unknown = lookup(HeaderNames.type)
  if (type === undefined || type === "") return Result.fail(decodeError("missing", HeaderNames.type))
  if (typeof type !== "string") return Result.fail(decodeError(`${typeName(type)}, not a string`, HeaderNames.type))
  const kind: unknown = lookup(HeaderNames.kind)
  if (kind === undefined || kind === "") return Result.fail(decodeError("missing", HeaderNames.kind))
  if (typeof kind !== "string" || !Envelope.isKind(kind)) {
    return Result.fail(
      decodeError(
        `${typeof kind === "string" ? quote(kind) : typeName(kind)} is not one of event, command, query, reply`,
        HeaderNames.kind
      )
    )
  }
  const occurred: unknown = lookup(HeaderNames.occurredAt)
  if (occurred === undefined || occurred === "") return Result.fail(decodeError("missing", HeaderNames.occurredAt))
  const occurredAt = typeof occurred === "string" ? parseTime(occurred) : Number.NaN
  if (!Number.isFinite(occurredAt)) {
    return Result.fail(
      decodeError(
        `${typeof occurred === "string" ? quote(occurred) : typeName(occurred)} is not an ISO-8601 time`,
        HeaderNames.occurredAt
      )
    )
  }
  const contentType: unknown = lookup(HeaderNames.contentType)
  if (contentType !== undefined && typeof contentType !== "string") {
    return Result.fail(decodeError(`${typeName(contentType)}, not a string`, HeaderNames.contentType))
  }
  return Result.succeed({
    identity: identity.success,
    type,
    kind,
    occurredAt,
    contentType: contentType === undefined || contentType === "" ? "application/json" : contentType,
    headers,
    body
  })
}

const isIterable = (u: unknown): u is Iterable<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function"

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Decodes a `RawMessage` with the rules of {@link decode}. Anything that is not
 * a raw message (not an object, headers that are not a record, a body that is
 * not a `Uint8Array`) is a `DecodeError` too.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRaw = (raw: RawMessage): Result.Result<Envelope.Envelope, TransportError.TransportError> => {
  if (!isRecord(raw)) return Result.fail(decodeError(`not a raw message: ${typeName(raw)}`))
  const headers: unknown = raw.headers
  if (!isRecord(headers)) return Result.fail(decodeError(`the headers are ${typeName(headers)}, not a record`))
  const names = Object.keys(headers)
  // Built on the first name not found as written (the last header of a
  // name, without case, wins, as it always did).
  let lower: Map<string, unknown> | undefined
  return decode((name) => {
    let v: unknown = Object.hasOwn(headers, name) ? headers[name] : undefined
    if (v === undefined) {
      if (lower === undefined) {
        lower = new Map<string, unknown>()
        for (const n of names) lower.set(n.toLowerCase(), headers[n])
      }
      v = lower.get(name.toLowerCase())
    }
    return (v === "" ? undefined : v) as string | undefined
  }, names, raw.body, raw.status)
}

/**
 * Bytes of a string in UTF-8.
 *
 * @since 0.1.0
 * @category size
 */
export const utf8Length = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/**
 * The size NATS counts against `max_payload` and a stream's
 * `maxMessageSize`: the header block as it goes on the wire (`NATS/1.0`,
 * `\r\nName: value` per header with the value trimmed, `\r\n\r\n`; none
 * without headers) plus the body. Every transport checks sizes with it.
 *
 * @since 0.1.0
 * @category size
 */
export const payloadSize = (raw: RawMessage): number => {
  let size = 0
  let any = false
  for (const name in raw.headers) {
    any = true
    size += 2 + utf8Length(name) + 2 + utf8Length(raw.headers[name]!.trim())
  }
  return (any ? 8 + size + 4 : 0) + raw.body.length
}

/**
 * One line of free text, fit for a header value: CR and LF become spaces,
 * and the text is cut at `max` characters.
 *
 * @since 0.1.0
 * @category headers
 */
export const oneLine = (text: string, max = 4096): string => text.replace(/[\r\n]+/g, " ").slice(0, max)

/**
 * A header of a raw message: its exact name first, then without case.
 *
 * @since 0.1.0
 * @category headers
 */
export const header = (raw: RawMessage, name: string): string | undefined => {
  const exact = Object.hasOwn(raw.headers, name) ? raw.headers[name] : undefined
  if (exact !== undefined) return exact
  const lower = name.toLowerCase()
  for (const key of Object.keys(raw.headers)) {
    if (key.toLowerCase() === lower) return raw.headers[key]
  }
  return undefined
}

/**
 * The reply a responder sends when its handler failed: a `reply` envelope
 * of type `herald.error`, caused by the request, whose `Herald-Error` header
 * (and plain-text body) says what went wrong. A requester turns it into a
 * `RemoteError`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const errorReply = (options: {
  readonly request: Envelope.Envelope
  readonly id: Ids.MessageId
  readonly occurredAt: number
  readonly detail: string
}): RawMessage => {
  const text = oneLine(options.detail.length > 0 ? options.detail : "unknown error")
  const encoded = encode(Envelope.make({
    identity: MessageIdentity.derive(options.request.identity, options.id),
    type: "herald.error",
    kind: "reply",
    occurredAt: options.occurredAt,
    contentType: "text/plain",
    body: new TextEncoder().encode(text),
    headers: { [HeaderNames.error]: text }
  }))
  return Result.isSuccess(encoded) ? encoded.success : { headers: { [HeaderNames.error]: text }, body: new Uint8Array(0) }
}
