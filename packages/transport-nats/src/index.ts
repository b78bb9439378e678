/**
 * @herald/transport-nats: Herald's transport contracts on NATS JetStream.
 *
 * @since 0.1.0
 */
export * as NatsConnection from "./NatsConnection.ts"
