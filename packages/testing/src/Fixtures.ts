/**
 * Envelope fixtures for tests: plain values, no effects, deterministic ids.
 *
 * Ids are `IdGenerator.testId(n)` (`00000000-0000-7000-8000-000000000001`
 * for `n = 1`, ...), the same ids `IdGenerator.layerTest` mints, so fixtures
 * and code under test that uses the test generator agree. Times default to
 * {@link epoch} (2024-01-01T00:00:00Z).
 *
 * ```ts
 * const placed = Fixtures.event("OrderPlaced", { orderId: "o-1" })     // id 1, a root
 * const [a, b, c] = Fixtures.chain(3)                                    // ids 1..3, b caused by a, c by b
 * const order = Fixtures.tree({ type: "OrderPlaced", children: ["PaymentTaken", "StockReserved"] })
 * const broken = Fixtures.rawMalformed("missingId")                      // for EventLog.appendRaw / Bus.publishRaw
 * ```
 *
 * @since 0.1.0
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope, Wire } from "@herald/transport"
import * as Result from "effect/Result"

/**
 * The default `occurredAt` of fixtures: 2024-01-01T00:00:00.000Z.
 *
 * @since 0.1.0
 * @category constants
 */
export const epoch: number = Date.UTC(2024, 0, 1)

/**
 * The default type of {@link envelope}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultType = "herald.test.Event"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * The deterministic message id number `n` (`IdGenerator.testId`).
 *
 * @since 0.1.0
 * @category identities
 */
export const id = (n: number): MessageIdentity.MessageIdentity["messageId"] => IdGenerator.testId(n)

/**
 * A root identity with id number `n` (default 1).
 *
 * @since 0.1.0
 * @category identities
 */
export const root = (n = 1): MessageIdentity.MessageIdentity => MessageIdentity.root(IdGenerator.testId(n))

/**
 * An identity with id number `n`, caused by `parent`.
 *
 * @since 0.1.0
 * @category identities
 */
export const derived = (
  parent: MessageIdentity.MessageIdentity | Envelope.Envelope,
  n: number
): MessageIdentity.MessageIdentity =>
  MessageIdentity.derive("identity" in parent ? parent.identity : parent, IdGenerator.testId(n))

const identityOf = (identity: MessageIdentity.MessageIdentity | number | undefined) =>
  identity === undefined ? root(1) : typeof identity === "number" ? root(identity) : identity

/**
 * A JSON body.
 *
 * @since 0.1.0
 * @category bodies
 */
export const jsonBody = (payload: unknown): Uint8Array => encoder.encode(JSON.stringify(payload))

/**
 * The JSON value of an envelope's body (throws when it is not JSON).
 *
 * @since 0.1.0
 * @category bodies
 */
export const json = (envelope: Pick<Envelope.Envelope, "body">): unknown => JSON.parse(decoder.decode(envelope.body))

/**
 * What {@link envelope} accepts: any envelope field, or `payload` for a JSON
 * body (`body` wins when both are given), and `identity` as an id number.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnvelopeOverrides {
  readonly identity?: MessageIdentity.MessageIdentity | number | undefined
  readonly type?: string | undefined
  readonly kind?: Envelope.Kind | undefined
  readonly occurredAt?: number | undefined
  readonly contentType?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: Uint8Array | undefined
  readonly payload?: unknown
}

/**
 * An envelope: by default a root event of type {@link defaultType} with id
 * number 1, occurred at {@link epoch}, JSON body `{}`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const envelope = (overrides?: EnvelopeOverrides): Envelope.Envelope =>
  Envelope.make({
    identity: identityOf(overrides?.identity),
    type: overrides?.type ?? defaultType,
    kind: overrides?.kind ?? "event",
    occurredAt: overrides?.occurredAt ?? epoch,
    contentType: overrides?.contentType,
    headers: overrides?.headers,
    body: overrides?.body ?? jsonBody(overrides !== undefined && "payload" in overrides ? overrides.payload : {})
  })

/**
 * An event with a JSON payload. `identity` is an identity, or an id number
 * for a root (default 1).
 *
 * @since 0.1.0
 * @category constructors
 */
export const event = (
  type: string,
  payload: unknown,
  identity?: MessageIdentity.MessageIdentity | number
): Envelope.Envelope => envelope({ type, payload, identity })

/**
 * Options of {@link chain}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChainOptions {
  /** The id number of the first envelope (default 1); the others follow. */
  readonly start?: number | undefined
  /** The type of envelope `i` (0-based), or one type for all (default `Step<i>`). */
  readonly type?: string | ((index: number) => string) | undefined
  /** The payload of envelope `i` (default `{ step: i }`). */
  readonly payload?: ((index: number) => unknown) | undefined
}

/**
 * `n` events, each caused by the previous: the first is a root, all share its
 * correlation id. Ids are numbers `start`, `start + 1`, ... and each occurs
 * one millisecond after the previous one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chain = (n: number, options?: ChainOptions): ReadonlyArray<Envelope.Envelope> => {
  const start = options?.start ?? 1
  const type = options?.type
  const out: Array<Envelope.Envelope> = []
  for (let i = 0; i < n; i++) {
    const identity = i === 0 ? root(start) : derived(out[i - 1]!, start + i)
    out.push(envelope({
      identity,
      type: type === undefined ? `Step${i}` : typeof type === "string" ? type : type(i),
      occurredAt: epoch + i,
      payload: options?.payload === undefined ? { step: i } : options.payload(i)
    }))
  }
  return out
}

/**
 * A causation tree to build: a type name (a leaf), or a type with a payload
 * and the messages it caused.
 *
 * @since 0.1.0
 * @category models
 */
export type TreeSpec =
  | string
  | {
    readonly type: string
    readonly payload?: unknown
    readonly children?: ReadonlyArray<TreeSpec> | undefined
  }

/**
 * The envelopes of a causation tree, parents before children (preorder,
 * children in the order given). The top is a root; ids are numbers
 * `start`, `start + 1`, ... in that order (default `start` 1); payloads
 * default to `{}`.
 *
 * ```ts
 * const [placed, paid, receipt, reserved] = Fixtures.tree({
 *   type: "OrderPlaced",
 *   children: [{ type: "PaymentTaken", children: ["ReceiptSent"] }, "StockReserved"]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const tree = (spec: TreeSpec, options?: { readonly start?: number | undefined }): ReadonlyArray<Envelope.Envelope> => {
  const out: Array<Envelope.Envelope> = []
  let next = options?.start ?? 1
  const stack: Array<{ readonly spec: TreeSpec; readonly parent: Envelope.Envelope | undefined }> = [
    { spec, parent: undefined }
  ]
  while (stack.length > 0) {
    const { parent, spec: node } = stack.pop()!
    const n = next++
    const type = typeof node === "string" ? node : node.type
    const payload = typeof node === "string" || !("payload" in node) ? {} : node.payload
    const made = envelope({
      identity: parent === undefined ? root(n) : derived(parent, n),
      type,
      occurredAt: epoch + (n - (options?.start ?? 1)),
      payload
    })
    out.push(made)
    const children = typeof node === "string" ? [] : node.children ?? []
    for (let i = children.length - 1; i >= 0; i--) stack.push({ spec: children[i]!, parent: made })
  }
  return out
}

/**
 * An envelope as raw headers and body (`Wire.encode`). Throws on an envelope
 * that cannot be encoded.
 *
 * @since 0.1.0
 * @category raw messages
 */
export const raw = (self: Envelope.Envelope): Wire.RawMessage => {
  const encoded = Wire.encode(self)
  if (Result.isFailure(encoded)) throw encoded.failure
  return encoded.success
}

/**
 * The ways {@link rawMalformed} breaks a message.
 *
 * @since 0.1.0
 * @category models
 */
export type MalformedKind = "missingId" | "badId" | "badKind" | "badTime"

/**
 * A raw message that is not a valid envelope, for negative tests of
 * `EventLog.appendRaw` and `Bus.publishRaw`. It is the raw form of `base`
 * (default {@link envelope}`()`) with one header broken:
 *
 * - `missingId`: no `Herald-Message-Id`;
 * - `badId`: `Herald-Message-Id` holds whitespace;
 * - `badKind`: `Herald-Kind` is `gossip`;
 * - `badTime`: `Herald-Occurred-At` is not an ISO-8601 time.
 *
 * `Nats-Msg-Id` is kept, so the message still dedupes. Decoding it fails
 * with a `DecodeError` naming the broken header.
 *
 * @since 0.1.0
 * @category raw messages
 */
export const rawMalformed = (kind: MalformedKind, base?: Envelope.Envelope): Wire.RawMessage => {
  const valid = raw(base ?? envelope())
  const headers: Record<string, string> = { ...valid.headers }
  switch (kind) {
    case "missingId":
      delete headers[Wire.HeaderNames.messageId]
      break
    case "badId":
      headers[Wire.HeaderNames.messageId] = "not a valid id"
      break
    case "badKind":
      headers[Wire.HeaderNames.kind] = "gossip"
      break
    case "badTime":
      headers[Wire.HeaderNames.occurredAt] = "yesterday"
      break
  }
  return { headers, body: valid.body }
}

/**
 * The header each {@link MalformedKind} breaks.
 *
 * @since 0.1.0
 * @category raw messages
 */
export const malformedHeader: Readonly<Record<MalformedKind, string>> = {
  missingId: Wire.HeaderNames.messageId,
  badId: Wire.HeaderNames.messageId,
  badKind: Wire.HeaderNames.kind,
  badTime: Wire.HeaderNames.occurredAt
}
