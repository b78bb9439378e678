/**
 * Payloads and headers shared by the Herald and raw nats.js sides, so that both
 * put the same bytes on the wire: a 128-byte JSON body and the headers
 * `Wire.encode` writes for a Herald envelope.
 */
import { type Ids, IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope, Message, Wire } from "@herald/transport"
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { randomBytes, randomUUID } from "node:crypto"

export const BODY_BYTES = 128

/** A 128-byte JSON object. */
export const body: Uint8Array = (() => {
  const prefix = `{"orderId":"o-000001","amount":1999,"pad":"`
  const suffix = `"}`
  const text = prefix + "x".repeat(BODY_BYTES - prefix.length - suffix.length) + suffix
  const bytes = new TextEncoder().encode(text)
  if (bytes.length !== BODY_BYTES) throw new Error(`body is ${bytes.length} bytes`)
  return bytes
})()

let clock = Date.now()

/** A fresh UUIDv7 message id. */
export const newId = (): Ids.MessageId => IdGenerator.uuidv7(clock++, randomBytes(16))

/** The conversation every bench message belongs to. */
const parent = MessageIdentity.root(newId())

/** An envelope of `kind` with a fresh message id in the bench conversation. */
export const envelope = (kind: Envelope.Kind = "event", type = "bench.OrderPlaced"): Envelope.Envelope =>
  Envelope.make({
    identity: MessageIdentity.derive(parent, newId()),
    type,
    kind,
    occurredAt: Date.now(),
    body
  })

/** `n` envelopes, each with its own message id (JetStream dedupes on it). */
export const envelopes = (n: number, kind: Envelope.Kind = "event"): ReadonlyArray<Envelope.Envelope> =>
  Array.from({ length: n }, () => envelope(kind))

/** The headers and body Herald sends for an envelope. */
export const rawOf = (e: Envelope.Envelope): Wire.RawMessage => {
  const raw = Wire.encode(e)
  if (Result.isFailure(raw)) throw new Error(raw.failure.message)
  return raw.success
}

/** nats.js headers carrying exactly what `Wire.encode` writes for the envelope. */
export const natsHeadersOf = (e: Envelope.Envelope): MsgHdrs => {
  const h = natsHeaders()
  const raw = rawOf(e)
  for (const name in raw.headers) h.append(name, raw.headers[name]!)
  return h
}

// ---------------------------------------------------------------------------
// What a user builds per message, on each side (built inside the timed loops).
// ---------------------------------------------------------------------------

/** The bench's payload: about 128 bytes of JSON, as `body`. */
export interface Order {
  readonly orderId: string
  readonly amount: number
  readonly pad: string
}

const OrderSchema = Schema.Struct({ orderId: Schema.String, amount: Schema.Number, pad: Schema.String })

const PAD = "x".repeat(BODY_BYTES - JSON.stringify({ orderId: "o-000001", amount: 1999, pad: "" }).length)

/** The payload of message `i`: 128 bytes of JSON for i < 1,000,000. */
export const payloadOf = (i: number): Order => ({
  orderId: `o-${String(i % 1_000_000).padStart(6, "0")}`,
  amount: 1999,
  pad: PAD
})

/** The message definitions of the bench, as the top README defines messages (`Message.event` ...). */
export const OrderPlaced = Message.event("bench.OrderPlaced", OrderSchema)
export const GetOrder = Message.query("bench.GetOrder", OrderSchema)
export const OrderReply = Message.reply("bench.Order", OrderSchema)

const encoder = new TextEncoder()

/** What a raw nats.js user sends for a Herald-like message: the same eight headers, a fresh id, a JSON body. */
export interface RawOut {
  readonly id: string
  readonly headers: MsgHdrs
  readonly data: Uint8Array
}

/**
 * Raw nats.js, per message: a fresh UUID (`crypto.randomUUID`), the headers
 * Herald writes (`headers()` + `set` of each), `JSON.stringify` of the payload.
 * `parent` makes it a reply/child: same correlation, causation = parent's id.
 */
export const rawOut = (
  kind: Envelope.Kind,
  type: string,
  payload: Order,
  parent?: { readonly id: string; readonly correlation: string }
): RawOut => {
  const id = randomUUID()
  const h = natsHeaders()
  h.set("Nats-Msg-Id", id)
  h.set("Herald-Message-Id", id)
  h.set("Herald-Correlation-Id", parent?.correlation ?? id)
  h.set("Herald-Causation-Id", parent?.id ?? id)
  h.set("Herald-Type", type)
  h.set("Herald-Kind", kind)
  h.set("Herald-Occurred-At", new Date().toISOString())
  h.set("Content-Type", "application/json")
  return { id, headers: h, data: encoder.encode(JSON.stringify(payload)) }
}

/** Raw nats.js without Herald's headers: the JSON body only. */
export const bareOut = (payload: Order): Uint8Array => encoder.encode(JSON.stringify(payload))

/** Provides a fresh UUIDv7 `IdGenerator` (as `IdGenerator.layer` does) to a Herald side. */
export const withIds = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.provideServiceEffect(self, IdGenerator.IdGenerator, IdGenerator.makeUuidV7)

/** What every receiving side keeps of a message, so that nothing is optimised away. */
export let sink = 0

/** What both a core `Msg` and a JetStream `JsMsg` offer. */
interface Received {
  readonly headers?: MsgHdrs | undefined
  json<T>(): T
}

/** Raw nats.js, per received message: `m.json()` and the three ids from the headers. */
export const rawIn = (m: Received): { readonly id: string; readonly correlation: string } => {
  const order = m.json<Order>()
  const h = m.headers!
  const id = h.get("Herald-Message-Id")
  const correlation = h.get("Herald-Correlation-Id")
  const causation = h.get("Herald-Causation-Id")
  sink += order.amount + id.length + correlation.length + causation.length
  return { id, correlation }
}

/** Raw nats.js without headers, per received message: `m.json()`. */
export const bareIn = (m: Received): void => {
  sink += m.json<Order>().amount
}

/** Herald, per received message: the payload decoded by its definition (JSON + Schema) and the three ids read. */
export const heraldIn = (e: Envelope.Envelope) =>
  Effect.map(OrderPlaced.decode(e), (order) => {
    const { causationId, correlationId, messageId } = e.identity
    sink += order.amount + messageId.length + correlationId.length + causationId.length
  })

/** The same for a reply or query envelope (another type). */
export const heraldInAs = <D extends typeof GetOrder | typeof OrderReply>(def: D, e: Envelope.Envelope) =>
  Effect.map(def.decode(e), (order) => {
    const { causationId, correlationId, messageId } = e.identity
    sink += order.amount + messageId.length + correlationId.length + causationId.length
  })
