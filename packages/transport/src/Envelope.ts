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
import type { MessageIdentity } from "@herald/identity"

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
