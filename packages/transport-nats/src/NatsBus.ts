/**
 * The `Bus` contract on core NATS (nats.js v3): at-most-once publish,
 * subscribe, request/reply and serve.
 *
 * ```ts
 * import { NatsBus, NatsConnection } from "@herald/transport-nats"
 *
 * const BusLive = NatsBus.layer.pipe(Layer.provide(NatsConnection.layer({ servers: "nats://127.0.0.1:4222" })))
 * ```
 *
 * - An envelope travels as NATS headers plus body (`Wire.encode`). Messages
 *   are checked against the server's `max_payload` before they are sent:
 *   `MessageTooLarge` instead of a closed connection.
 * - Permissions: the first `publish` to a subject waits for a flush and
 *   fails with `PermissionDenied` if the server refused it (the server
 *   answers a refused publish only asynchronously, before the flush's
 *   answer); the answer is remembered per subject (up to 10,000 subjects,
 *   forgotten on reconnect), so later publishes to an allowed subject are
 *   sent without waiting and to a refused one fail at once. A refused
 *   `subscribe` fails with `PermissionDenied`; a refusal that comes later
 *   fails the subscription's stream. Each refusal is also a `ServerError`
 *   event of the connection and a warning in the log.
 * - `subscribe` registers the subscription on the server (a flush) before it
 *   returns, so a publish right after it is seen. Each subscription buffers
 *   up to `bufferSize` messages (default 65,536) for a slow reader and then
 *   drops the oldest, as core NATS drops for slow consumers. Closing the scope
 *   unsubscribes and ends the stream; the stream also ends when the
 *   connection closes.
 * - `request` uses nats.js's request (the muxed inbox): `NoResponders` comes
 *   from the server's 503 status at once, `Timeout` after `timeout`
 *   (default 5 s). A reply with a `Herald-Error` header is a `RemoteError`
 *   carrying that header's text.
 * - `serve` answers on a subscription (with a queue group if given), one
 *   request at a time by default, in arrival order, or up to `concurrency` at
 *   once. A failed handler is answered with a `reply` envelope of type
 *   `herald.error` whose `Herald-Error` header (and `text/plain` body) is the
 *   failure's description. A message without a reply subject is ignored; one
 *   that is not an envelope is logged and not answered (the requester times
 *   out), as on the in-memory transport. Requests wait in a buffer of
 *   65,536; beyond it the oldest are dropped (their requesters time out).
 *
 * @since 0.1.0
 */
import { Bus } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Internal from "./internal/bus/bus.ts"
import * as NatsConnection from "./NatsConnection.ts"

/**
 * Builds the `Bus` service over the connection, in a scope (it watches
 * the connection's status for refused publishes until the scope closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Bus.Bus["Service"], never, NatsConnection.NatsConnection | Scope.Scope> = NatsConnection
  .NatsConnection.use(
  Internal.make
)

/**
 * The `Bus` on the connection in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Bus.Bus, never, NatsConnection.NatsConnection> = Layer.effect(Bus.Bus, make)
