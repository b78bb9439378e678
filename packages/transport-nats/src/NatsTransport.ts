/**
 * Everything at once: a NATS connection and Herald's `Bus`, `EventLog` and
 * `Topology` on it, in one layer.
 *
 * ```ts
 * const transport = NatsTransport.layer({ servers: "nats://127.0.0.1:4222", name: "orders" })
 * const fromEnv = NatsTransport.layerConfig() // NATS_URL, NATS_TOKEN, ... (see NatsConnection.layerConfig)
 * program.pipe(Effect.provide(transport))
 * ```
 *
 * @since 0.1.0
 */
import type { Bus, EventLog, Topology, TransportError } from "@herald/transport"
import * as Layer from "effect/Layer"
import * as NatsBus from "./NatsBus.ts"
import * as NatsConnection from "./NatsConnection.ts"
import * as NatsEventLog from "./NatsEventLog.ts"
import * as NatsTopology from "./NatsTopology.ts"

/**
 * The services this layer provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = Bus.Bus | EventLog.EventLog | Topology.Topology | NatsConnection.NatsConnection

/**
 * `Bus`, `EventLog` and `Topology` over a connection already provided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServices: Layer.Layer<
  Bus.Bus | EventLog.EventLog | Topology.Topology,
  never,
  NatsConnection.NatsConnection
> = Layer.mergeAll(NatsBus.layer, NatsEventLog.layer, NatsTopology.layer)

/**
 * A connection with the given options and the three services on it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: NatsConnection.Options): Layer.Layer<Services, TransportError.TransportError> =>
  Layer.provideMerge(layerServices, NatsConnection.layer(options))

/**
 * Like `layer`, with the connection read from configuration (`NATS_URL`, …).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  overrides?: Parameters<typeof NatsConnection.layerConfig>[0]
): Layer.Layer<Services, TransportError.TransportError> =>
  Layer.provideMerge(layerServices, NatsConnection.layerConfig(overrides))
