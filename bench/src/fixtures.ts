/**
 * Payloads and headers shared by the Herald and raw nats.js sides, so that both
 * put the same bytes on the wire: a 128-byte JSON body and the headers
 * `Wire.encode` writes for a Herald envelope.
 */
import { type Ids, IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope, Wire } from "@herald/transport"
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"
import { randomBytes } from "node:crypto"
import * as Result from "effect/Result"

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
