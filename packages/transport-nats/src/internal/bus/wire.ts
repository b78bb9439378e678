/**
 * Envelopes and raw messages as nats.js headers and bytes, and back.
 *
 * @since 0.1.0
 * @internal
 */
import { Subject, SubjectPattern } from "@herald/subject"
import { type Envelope, Foreign, TransportError, Wire } from "@herald/transport"
import { Match, type Msg, type MsgHdrs, MsgHdrsImpl } from "@nats-io/nats-core"
import * as Result from "effect/Result"
import { statusLine } from "../eventlog/message.ts"

/**
 * Checks a concrete subject.
 *
 * @internal
 */
export const validateSubject = (subject: string): Result.Result<Subject.Subject, TransportError.TransportError> =>
  Result.mapError(Subject.make(subject), (e) =>
    TransportError.make(new TransportError.InvalidSubject({ subject, detail: e.message, cause: e })))

/**
 * Checks a subject pattern.
 *
 * @internal
 */
export const validatePattern = (
  pattern: string
): Result.Result<SubjectPattern.SubjectPattern, TransportError.TransportError> =>
  Result.mapError(SubjectPattern.make(pattern), (e) =>
    TransportError.make(new TransportError.InvalidSubject({ subject: pattern, detail: e.message, cause: e })))

/**
 * Checks every header of a raw message: token names, no CR or LF in values.
 *
 * @internal
 */
export const validateHeaders = (raw: Wire.RawMessage): Result.Result<void, TransportError.TransportError> => {
  for (const name in raw.headers) {
    const valid = Wire.validateHeader(name, raw.headers[name]!)
    if (Result.isFailure(valid)) return valid
  }
  return Result.void
}

/**
 * An upper bound of {@link Wire.payloadSize}: a UTF-16 code unit is at most three
 * UTF-8 bytes, and trimming a value only shortens it.
 */
const sizeBound = (raw: Wire.RawMessage): number => {
  let bound = 12 + raw.body.length
  for (const name in raw.headers) bound += 4 + 3 * (name.length + raw.headers[name]!.length)
  return bound
}

/**
 * Whether the message may exceed `max`: `false` is certain (the upper bound
 * fits), `true` needs the exact {@link Wire.payloadSize}.
 *
 * @internal
 */
export const mayExceed = (raw: Wire.RawMessage, max: number): boolean => sizeBound(raw) > max

/**
 * Fails with `MessageTooLarge` when the message exceeds `max`. Counts UTF-8
 * bytes exactly only when the upper bound does not fit.
 *
 * @internal
 */
export const checkSize = (raw: Wire.RawMessage, max: number): Result.Result<void, TransportError.TransportError> => {
  if (!mayExceed(raw, max)) return Result.void
  const size = Wire.payloadSize(raw)
  return size > max
    ? Result.fail(TransportError.make(new TransportError.MessageTooLarge({ size, max })))
    : Result.void
}

/**
 * nats.js headers of a raw message, or `undefined` when it has none.
 *
 * The same headers `headers()` + `append(name, value)` per header build
 * (names as given, values trimmed, one value each: the names of a record are
 * distinct), without `append`'s per-call key search and name
 * canonicalisation: the names were validated as tokens before (by
 * `validateHeaders`, or by `Wire.encode` for an envelope's). A value with CR
 * or LF still goes through `append`, which refuses it as it always did.
 *
 * @internal
 */
export const toHeaders = (raw: Wire.RawMessage): MsgHdrs | undefined => {
  let out: MsgHdrsImpl | undefined
  for (const name in raw.headers) {
    if (out === undefined) out = new MsgHdrsImpl()
    const value = raw.headers[name]!
    if (value.includes("\r") || value.includes("\n")) out.append(name, value)
    else out.headers.set(name, [value.trim()])
  }
  return out
}

/**
 * A header's first value, exact name first, then without case; an empty
 * value counts as missing.
 *
 * @internal
 */
export const header = (h: MsgHdrs | undefined, name: string): string | undefined => {
  if (h === undefined) return undefined
  if (h instanceof MsgHdrsImpl) return lookup(h.headers, name)
  const exact = h.get(name)
  if (exact !== "") return exact
  const loose = h.get(name, Match.IgnoreCase)
  return loose === "" ? undefined : loose
}

/**
 * {@link header} over the map inside nats.js's `MsgHdrsImpl` (what
 * `get(name)` and `get(name, Match.IgnoreCase)` read, without building the
 * list of keys on every call).
 */
const lookup = (map: ReadonlyMap<string, ReadonlyArray<string>>, name: string): string | undefined => {
  const exact = map.get(name)?.[0]
  if (exact !== undefined && exact !== "") return exact
  const lower = name.toLowerCase()
  for (const [key, values] of map) {
    if (key.toLowerCase() === lower) {
      const loose = values[0]
      return loose === undefined || loose === "" ? undefined : loose
    }
  }
  return undefined
}

/**
 * Where nats.js 3.4 keeps a received message's bytes (`_rdata`) and its
 * header block's length (`_msg.hdr`, -1: none); `test/nats-internals.test.ts`
 * fails the day that changes.
 */
interface MsgInternals {
  readonly _rdata?: unknown
  readonly _msg?: { readonly hdr?: unknown }
}

const blockDecoder = new TextDecoder()
const headerLine = "NATS/1.0"

/**
 * The header block of a received message read from its bytes into the map
 * nats.js's `MsgHdrsImpl.decode` builds (names as written, values trimmed,
 * every value of a name in order), without its per-line name
 * canonicalisation and key search. `undefined` when the bytes are not where
 * nats.js 3.4 keeps them, when there is no block, or when nats.js would read
 * the block otherwise (a status line, a name outside printable ASCII, which
 * it refuses, a value with CR or LF): `msg.headers` is read then.
 */
const headerMapOf = (msg: Msg): Map<string, Array<string>> | undefined => {
  const internals = msg as unknown as MsgInternals
  const data = internals._rdata
  const hdr = internals._msg?.hdr
  if (!(data instanceof Uint8Array) || typeof hdr !== "number" || hdr <= 0 || hdr > data.length) return undefined
  const lines = blockDecoder.decode(data.subarray(0, hdr)).split("\r\n")
  if (lines[0] !== headerLine) return undefined
  const map = new Map<string, Array<string>>()
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line === "") continue
    const colon = line.indexOf(":")
    // (nats.js skips a line without a colon.)
    if (colon < 0) continue
    for (let j = 0; j < colon; j++) {
      const c = line.charCodeAt(j)
      if (c < 33 || c > 126) return undefined
    }
    const value = line.slice(colon + 1)
    if (value.includes("\r") || value.includes("\n")) return undefined
    const name = line.slice(0, colon)
    const values = map.get(name)
    if (values === undefined) map.set(name, [value.trim()])
    else values.push(value.trim())
  }
  return map
}

/**
 * The headers of a received message, read once: a lookup by name (exact,
 * then without case; an empty value counts as missing), the names, and the
 * status of the header block.
 *
 * @internal
 */
export interface ReceivedHeaders {
  readonly get: (name: string) => string | undefined
  readonly names: () => Iterable<string>
  readonly status: string | undefined
}

/**
 * Reads the headers of a received message: from its bytes when they are
 * where nats.js 3.4 keeps them ({@link headerMapOf}), else through nats.js's
 * `msg.headers`.
 *
 * @internal
 */
export const headersOf = (msg: Msg): ReceivedHeaders => {
  const fast = headerMapOf(msg)
  if (fast !== undefined) return { get: (name) => lookup(fast, name), names: () => fast.keys(), status: undefined }
  const h = msg.headers
  const status = statusLine(h)
  if (h instanceof MsgHdrsImpl) {
    const map = h.headers
    return { get: (name) => lookup(map, name), names: () => map.keys(), status }
  }
  return { get: (name) => header(h, name), names: () => (h === undefined ? [] : h.keys()), status }
}

/**
 * Decodes a received message into an envelope.
 *
 * @internal
 */
export const decode = (
  msg: Msg,
  headers: ReceivedHeaders = headersOf(msg)
): Result.Result<Envelope.Envelope, TransportError.TransportError> =>
  Wire.decode(headers.get, headers.names(), msg.data, headers.status)

/**
 * {@link decode}, or, when `foreign` is given and the message has no Herald
 * identity, the envelope synthesized by `Foreign.decode`.
 *
 * @internal
 */
export const decodeAccepting = (
  msg: Msg,
  foreign: Foreign.Options | undefined,
  context: () => Foreign.Context
): Result.Result<Envelope.Envelope, TransportError.TransportError> => {
  if (foreign === undefined) return decode(msg)
  const h = msg.headers
  const find = (name: string) => header(h, name)
  return Foreign.decodeReceived(find, h === undefined ? [] : h.keys(), msg.data, foreign, context)
}
