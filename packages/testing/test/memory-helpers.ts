/**
 * What the in-memory transport's own tests share: numbered envelopes, the
 * layer, and reading a failure's reason.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { type Bus, Envelope, type EventLog, type Topology, type TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as MemoryTransport from "../src/MemoryTransport.ts"

export type Services = Bus.Bus | EventLog.EventLog | Topology.Topology | MemoryTransport.MemoryTransport

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Envelope number `n`, with body `{ n }` unless given. */
export const envelope = (n: number, body: unknown = { n }): Envelope.Envelope =>
  Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(n)),
    type: "test.Ping",
    kind: "event",
    occurredAt: 1_700_000_000_000 + n,
    body: encoder.encode(JSON.stringify(body))
  })

/** The `n` of a message's `{ n }` body. */
export const nOf = (m: { readonly envelope: Envelope.Envelope }): number =>
  (JSON.parse(decoder.decode(m.envelope.body)) as { n: number }).n

/** Runs a scoped effect on a fresh in-memory transport. */
export const run = <A, Err>(
  effect: Effect.Effect<A, Err, Services | Scope.Scope>,
  layer: Layer.Layer<Services> = MemoryTransport.layer
) => Effect.scoped(effect).pipe(Effect.provide(layer))

/** The reason of a failed exit; throws on success or a defect. */
export const reasonOf = <A>(exit: Exit.Exit<A, TransportError.TransportError>): TransportError.TransportErrorReason => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error("expected a Fail")
  return error.error.reason
}
