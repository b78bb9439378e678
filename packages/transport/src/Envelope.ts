/**
 * The envelope: one message as it travels, with its identity and metadata
 * beside an already-encoded body.
 *
 * Transports move envelopes; `Message` definitions turn typed payloads into
 * envelopes and back; the `Wire` module turns envelopes into NATS headers and
 * bytes and back.
 *
 * @since 0.1.0
 */
import { Ids, type MessageIdentity } from "@herald/identity"
import * as Result from "effect/Result"
import * as TransportError from "./TransportError.ts"

/**
 * What a message is for. Travels as the `Herald-Kind` header.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "event" | "command" | "query" | "reply"

/**
 * Every kind, in a fixed order.
 *
 * @since 0.1.0
 * @category models
 */
export const kinds: ReadonlyArray<Kind> = ["event", "command", "query", "reply"]

/**
 * Returns `true` for a known kind.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKind = (u: unknown): u is Kind => u === "event" || u === "command" || u === "query" || u === "reply"

/**
 * One message: identity, type name, kind, time of occurrence (Unix epoch
 * milliseconds), content type, extra headers (for instance `traceparent`) and
 * the encoded body.
 *
 * @since 0.1.0
 * @category models
 */
export interface Envelope {
  readonly identity: MessageIdentity.MessageIdentity
  readonly type: string
  readonly kind: Kind
  readonly occurredAt: number
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

/**
 * Builds an envelope. `contentType` defaults to `application/json`, `headers`
 * to none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (fields: {
  readonly identity: MessageIdentity.MessageIdentity
  readonly type: string
  readonly kind: Kind
  readonly occurredAt: number
  readonly body: Uint8Array
  readonly contentType?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}): Envelope => ({
  identity: fields.identity,
  type: fields.type,
  kind: fields.kind,
  occurredAt: fields.occurredAt,
  contentType: fields.contentType ?? "application/json",
  headers: fields.headers ?? {},
  body: fields.body
})

/**
 * A copy with extra headers merged over the existing ones.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withHeaders = (self: Envelope, headers: Readonly<Record<string, string>>): Envelope => ({
  ...self,
  headers: { ...self.headers, ...headers }
})

// RFC 7230 token characters, which is what NATS accepts in a header name.
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** The first C0 control character (U+0000–U+001F) or DEL, except a tab when `tab` allows it. */
const controlAt = (s: string, tab: boolean): number => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c < 0x20 && !(tab && c === 0x09)) || c === 0x7f) return i
  }
  return -1
}

const maxQuoted = 64

/** A value quoted for an error message, at most 64 characters of it. */
const quote = (u: unknown): string => {
  if (typeof u === "string") {
    return u.length > maxQuoted ? `${JSON.stringify(u.slice(0, maxQuoted))}… (${u.length} characters)` : JSON.stringify(u)
  }
  if (u === null) return "null"
  if (Array.isArray(u)) return "an array"
  if (u instanceof Uint8Array) return "bytes"
  if (typeof u === "object") return "an object"
  if (typeof u === "number" || typeof u === "boolean" || typeof u === "bigint") return `${typeof u} ${String(u)}`
  return typeof u
}

const hex = (c: number) => `U+${c.toString(16).toUpperCase().padStart(4, "0")}`

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

// The range of `Date`: an `occurredAt` outside it has no ISO form.
const maxTime = 8_640_000_000_000_000

const problem = (field: string, detail: string) =>
  Result.fail(TransportError.make(new TransportError.InvalidEnvelope({ field, detail })))

/** A text field: a non-empty string with no control character. */
const text = (field: string, u: unknown): Result.Result<void, TransportError.TransportError> => {
  if (typeof u !== "string") return problem(field, `must be a string, got ${quote(u)}`)
  if (u.length === 0) return problem(field, "must not be empty")
  const at = controlAt(u, false)
  return at === -1 ? Result.void : problem(field, `control character ${hex(u.charCodeAt(at))} at ${at}`)
}

/**
 * Checks that a value is a well-formed envelope, whatever its static type
 * says (a value built by hand, read from JSON, or passed from untyped code):
 *
 * - `identity`: an object whose `messageId`, `correlationId` and
 *   `causationId` are valid ids (1 to 128 printable ASCII characters);
 * - `type`, `contentType`: non-empty strings without control characters;
 * - `kind`: one of `kinds`;
 * - `occurredAt`: an integer number of milliseconds within `Date`'s range;
 * - `headers`: an object of string values, each name a token (letters,
 *   digits, ``!#$%&'*+-.^_`|~``), each value without CR, LF or other control
 *   characters (a tab is allowed);
 * - `body`: a `Uint8Array` (the bytes the body codec produced).
 *
 * Fails with an `InvalidEnvelope` naming the first field that is wrong
 * (`identity.messageId`, `headers.x-trace`, `body`); never throws. Which
 * extra headers Herald reserves for itself is `Wire.encode`'s to check.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (u: unknown): Result.Result<Envelope, TransportError.TransportError> => {
  if (!isRecord(u)) return problem("envelope", `must be an object, got ${quote(u)}`)
  const identity = u["identity"]
  if (!isRecord(identity)) return problem("identity", `must be an object, got ${quote(identity)}`)
  for (const name of ["messageId", "correlationId", "causationId"] as const) {
    const id = identity[name]
    if (typeof id !== "string") return problem(`identity.${name}`, `must be a string, got ${quote(id)}`)
    const bad = Ids.idProblem(id)
    if (bad !== undefined) return problem(`identity.${name}`, `${quote(id)}: ${bad}`)
  }
  const type = text("type", u["type"])
  if (Result.isFailure(type)) return Result.fail(type.failure)
  if (!isKind(u["kind"])) return problem("kind", `must be one of ${kinds.join(", ")}, got ${quote(u["kind"])}`)
  const occurredAt = u["occurredAt"]
  if (typeof occurredAt !== "number" || !Number.isInteger(occurredAt) || Math.abs(occurredAt) > maxTime) {
    return problem("occurredAt", `must be an integer of Unix epoch milliseconds within Date's range, got ${quote(occurredAt)}`)
  }
  const contentType = text("contentType", u["contentType"])
  if (Result.isFailure(contentType)) return Result.fail(contentType.failure)
  const headers = u["headers"]
  if (!isRecord(headers)) return problem("headers", `must be an object, got ${quote(headers)}`)
  for (const name of Object.keys(headers)) {
    if (!headerName.test(name)) return problem("headers", `header name ${quote(name)} is not a token`)
    const field = `headers.${name.length > maxQuoted ? `${name.slice(0, maxQuoted)}…` : name}`
    const value = headers[name]
    if (typeof value !== "string") return problem(field, `must be a string, got ${quote(value)}`)
    const at = controlAt(value, true)
    if (at !== -1) return problem(field, `control character ${hex(value.charCodeAt(at))} at ${at}`)
  }
  const body = u["body"]
  if (!(body instanceof Uint8Array)) return problem("body", `must be a Uint8Array (encoded bytes), got ${quote(body)}`)
  return Result.succeed(u as unknown as Envelope)
}

/**
 * Returns `true` when a value is a well-formed envelope (`validate`
 * succeeds); never throws.
 *
 * @since 0.1.0
 * @category guards
 */
export const isEnvelope = (u: unknown): u is Envelope => Result.isSuccess(validate(u))
