/**
 * @herald/transport-nats: Herald's transport contracts on NATS JetStream.
 *
 * @since 0.1.0
 */
export * as NatsConnection from "./NatsConnection.ts"

/**
 * The `Bus` contract on core NATS.
 *
 * @since 0.1.0
 */
export * as NatsBus from "./NatsBus.ts"

/**
 * The `EventLog` contract on JetStream: append, pull, the consumer runner,
 * read, info and lag.
 *
 * @since 0.1.0
 */
export * as NatsEventLog from "./NatsEventLog.ts"

/**
 * The `Topology` contract on JetStream.
 *
 * @since 0.1.0
 */
export * as NatsTopology from "./NatsTopology.ts"

/**
 * Health reports and the `health.<service>` responder.
 *
 * @since 0.1.0
 */
export * as Health from "./Health.ts"

/**
 * A connection and the three services in one layer.
 *
 * @since 0.1.0
 */
export * as NatsTransport from "./NatsTransport.ts"

/**
 * What stores kept in NATS KV buckets share: key tokens, bucket names, calls
 * mapped to typed errors, compare-and-set refusals.
 *
 * @since 0.1.0
 */
export * as NatsKv from "./NatsKv.ts"

/**
 * The consumers of a stream with their state, and the removal of one stored
 * message: maintenance the transport contracts do not cover.
 *
 * @since 0.1.0
 */
export * as NatsAdmin from "./NatsAdmin.ts"
