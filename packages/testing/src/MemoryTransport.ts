/**
 * An in-memory transport with core NATS and JetStream 2.9 semantics, for
 * tests: `layer` provides the `Bus`, the `EventLog` and the `Topology` of
 * `@herald/transport`, backed by one in-memory "server" per layer build, and
 * the `MemoryTransport` service to look inside it.
 *
 * As on one nats-server, the three services share the server: an append to a
 * stream is also delivered to the core subscribers of its subject, and a core
 * publish to a subject that a stream captures is stored in that stream (with
 * dedupe, without an acknowledgement). As on NATS, every append that reaches
 * the server (a valid subject, within `maxPayload`) is delivered to core
 * subscribers, whether the stream stores it, finds it a duplicate or refuses
 * it. Dead letters are appends like any other.
 *
 * Streams and consumers follow JetStream 2.9: limits (`maxMessages`,
 * `maxBytes`, `maxMessagesPerSubject`, `maxAge` applied lazily,
 * `maxMessageSize`, discard old/new), `limits`, `workqueue` and `interest`
 * retention, the duplicate window, optimistic-concurrency expectations (from
 * the options or the `Nats-Expected-*` headers), durable pull consumers with
 * deliver policies, ack wait, backoff, `maxDeliver` (a message whose last
 * allowed delivery times out is dead-lettered by the server itself, whether
 * it is consumed with `pull` or `consume`), `maxAckPending`, nak delays, term
 * and in-progress. An `expectedStream` that does not name the capturing stream
 * fails with `StreamNotFound` naming the expected stream.
 *
 * All time comes from the `Clock` of the context in which the layer is built:
 * under a `TestClock`, `TestClock.adjust` drives ack waits, backoff, nak
 * delays, request timeouts, max age and dedupe windows.
 *
 * Sizes: a message's payload is its header block as sent on the wire plus its
 * body (checked against `maxPayload` and a stream's `maxMessageSize`); a
 * stored message counts its subject plus its payload against `maxBytes`.
 *
 * @since 0.1.0
 */
import { Bus, EventLog, Topology, type TransportError, type Wire } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as MemoryBus from "./internal/memory/bus.ts"
import * as MemoryEventLog from "./internal/memory/eventLog.ts"
import * as server_ from "./internal/memory/server.ts"
import * as MemoryTopology from "./internal/memory/topology.ts"

/**
 * Options of the in-memory server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The largest payload (header block plus body) accepted, in bytes. Default 1 MiB, as nats-server. */
  readonly maxPayload: number
}

/**
 * A message as stored in a stream, not decoded (it may not be a valid
 * envelope).
 *
 * @since 0.1.0
 * @category models
 */
export interface RawStoredMessage {
  readonly stream: string
  readonly sequence: number
  readonly subject: string
  /** When the message was stored (Unix epoch milliseconds, from the `Clock`). */
  readonly timestamp: number
  readonly raw: Wire.RawMessage
}

/**
 * Introspection of the in-memory server, for tests.
 *
 * @since 0.1.0
 * @category services
 */
export class MemoryTransport extends Context.Service<MemoryTransport, {
  /** The server's options. */
  readonly options: Options
  /** The messages a stream holds now, in sequence order. */
  readonly streamMessages: (
    stream: string
  ) => Effect.Effect<ReadonlyArray<RawStoredMessage>, TransportError.TransportError>
  /** The number of live core subscriptions (including request inboxes). */
  readonly subscriptions: Effect.Effect<number>
}>()("@herald/testing/MemoryTransport") {}

/**
 * The default options: `maxPayload` 1 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultOptions: Options = server_.defaultOptions

/**
 * An in-memory transport with options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options?: Partial<Options>
): Layer.Layer<Bus.Bus | EventLog.EventLog | Topology.Topology | MemoryTransport> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const clock = yield* Clock.Clock
      const resolved: Options = { ...server_.defaultOptions, ...options }
      const server = new server_.Server(clock, resolved)
      yield* Effect.forkScoped(server.ticker)
      yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
      const introspection = MemoryTransport.of({
        options: resolved,
        streamMessages: (stream) =>
          Effect.suspend(() => {
            const found = server.getStream(stream)
            if (Result.isFailure(found)) return Effect.fail(found.failure)
            return Effect.succeed(server.snapshot(found.success).map((entry): RawStoredMessage => ({
              stream,
              sequence: entry.sequence,
              subject: entry.subject,
              timestamp: entry.timestamp,
              raw: entry.raw
            })))
          }),
        subscriptions: Effect.sync(() => server.subscriptions.size)
      })
      return Context.make(Bus.Bus, MemoryBus.make(server)).pipe(
        Context.add(EventLog.EventLog, MemoryEventLog.make(server)),
        Context.add(Topology.Topology, MemoryTopology.make(server)),
        Context.add(MemoryTransport, introspection)
      )
    })
  )

/**
 * An in-memory transport with the default options. Each build is a fresh,
 * empty server.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Bus.Bus | EventLog.EventLog | Topology.Topology | MemoryTransport> = layerWith()
