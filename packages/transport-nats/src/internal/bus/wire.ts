/**
 * Envelopes and raw messages as nats.js headers and bytes, and back.
 *
 * @since 0.1.0
 * @internal
 */
import { Subject, SubjectPattern } from "@herald/subject"
import { type Envelope, TransportError, Wire } from "@herald/transport"
import { headers as makeHeaders, Match, type Msg, type MsgHdrs } from "@nats-io/nats-core"
import * as Result from "effect/Result"

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

const utf8Length = (s: string): number => {
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
 * The size NATS counts against `max_payload`: the header block as nats.js
 * writes it (`NATS/1.0`, `\r\nName: value` per header, `\r\n\r\n`) plus the body.
 *
 * @internal
 */
export const payloadSize = (raw: Wire.RawMessage): number => {
  let size = 0
  let any = false
  for (const name in raw.headers) {
    any = true
    size += 2 + utf8Length(name) + 2 + utf8Length(raw.headers[name]!.trim())
  }
  return (any ? 8 + size + 4 : 0) + raw.body.length
}

/**
 * Fails with `MessageTooLarge` when the message exceeds `max`.
 *
 * @internal
 */
export const checkSize = (raw: Wire.RawMessage, max: number): Result.Result<void, TransportError.TransportError> => {
  const size = payloadSize(raw)
  return size > max
    ? Result.fail(TransportError.make(new TransportError.MessageTooLarge({ size, max })))
    : Result.void
}

/**
 * nats.js headers of a raw message, or `undefined` when it has none.
 *
 * @internal
 */
export const toHeaders = (raw: Wire.RawMessage): MsgHdrs | undefined => {
  let out: MsgHdrs | undefined
  for (const name in raw.headers) {
    if (out === undefined) out = makeHeaders()
    out.append(name, raw.headers[name]!)
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
  const exact = h.get(name)
  if (exact !== "") return exact
  const loose = h.get(name, Match.IgnoreCase)
  return loose === "" ? undefined : loose
}

/**
 * Decodes a received message into an envelope.
 *
 * @internal
 */
export const decode = (msg: Msg): Result.Result<Envelope.Envelope, TransportError.TransportError> => {
  const h = msg.headers
  return Wire.decode((name) => header(h, name), h === undefined ? [] : h.keys(), msg.data)
}
