/**
 * The `Topology` contract on JetStream: streams and durable pull consumers
 * declared in code, created or updated through the JetStream manager.
 *
 * ```ts
 * import { NatsConnection, NatsTopology } from "@herald/transport-nats"
 *
 * const TopologyLive = NatsTopology.layer.pipe(Layer.provide(NatsConnection.layer({ servers: "nats://127.0.0.1:4222" })))
 * ```
 *
 * What it does, and what it refuses before anything is sent:
 *
 * - `ensureStream` validates the configuration (`Topology.validateStream`),
 *   lists the server's streams and runs the `OverlapGuard` over them: subjects
 *   that overlap another stream's fail with `TopologyConflict` naming both
 *   streams (the server refuses them too, which maps to the same reason). A
 *   missing stream is created; an existing one is compared on the fields
 *   Herald manages (subjects, description, retention, storage, the limits,
 *   discard, duplicate window, replicas), ignoring what the server fills in
 *   itself, and is `unchanged` or `updated`. A change of `storage` or
 *   `retention` is refused as JetStream 2.9 refuses it: `TopologyConflict`
 *   naming the field. The duplicate window defaults to 2 minutes, or to
 *   `maxAge` when that is shorter (the server's own clamping).
 * - `ensureConsumer` manages durable pull consumers with explicit acks:
 *   `filter_subject` (one filter: 2.9 has no `filter_subjects`, and Herald's
 *   `ConsumerConfig` cannot express several), the deliver policy,
 *   `ack_wait` (default 30 s), `max_deliver` (unlimited when absent),
 *   `backoff`, `max_ack_pending` (default 1,000) and the description. A
 *   change of deliver policy or filter is a `TopologyConflict`, as on the
 *   in-memory transport. JetStream refuses `backoff` with unlimited
 *   deliveries, so `backoff` without `maxDeliver` is `InvalidConfig`; with
 *   `backoff` the server replaces `ack_wait` by the first step, and
 *   `consumerConfig` reports that.
 * - Herald's own consumer setting, the dead-letter subject, is kept in the
 *   consumer's description as a suffix ` [herald:dlq=<subject>]` (the
 *   description is `[herald:dlq=<subject>]` when there is no other text):
 *   consumer `metadata` is a 2.10 feature that nats-server 2.9 drops
 *   silently. `consumerConfig` reads it back and strips it from the
 *   description; {@link deadLetterSubjectOf} does the same for a raw
 *   description.
 * - `purge` checks its options with `Topology.validatePurge`, reads the
 *   stream's info (`StreamNotFound` when it is missing), and keeps the
 *   contract's meaning where nats-server 2.9's own purge does not:
 *   `upToSequence` and `keep` go with a filter covering the whole stream
 *   (`*.>` or `*`; without a filter 2.9 compacts, counting `keep` in
 *   sequences, bringing a deleted message back, or moving the last sequence
 *   forward), and a purge by `subject` deletes the matching messages one by
 *   one (a filtered purge on 2.9 moves every consumer past the first message
 *   left on that subject, so they would miss the other subjects' messages).
 *   `upToSequence: 1` removes nothing (2.9 reads `seq: 1` as everything).
 * - Options newer than the server are never sent: Herald's configurations
 *   have none today (no `metadata`, no `filter_subjects`, no message TTLs,
 *   no `pause_until`); when they get one, it is checked with
 *   `NatsConnection.requireVersion` (`Unsupported` naming the version).
 *
 * @since 0.1.0
 */
import { Topology } from "@herald/transport"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Config from "./internal/topology/config.ts"
import * as Internal from "./internal/topology/topology.ts"
import * as NatsConnection from "./NatsConnection.ts"

/**
 * Builds the `Topology` service over the connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Topology.Topology["Service"], never, NatsConnection.NatsConnection> =
  NatsConnection.NatsConnection.useSync(Internal.make)

/**
 * The `Topology` on the connection in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Topology.Topology, never, NatsConnection.NatsConnection> = Layer.effect(
  Topology.Topology,
  make
)

/**
 * The dead-letter subject stored in a JetStream consumer's description by
 * `ensureConsumer`, if any.
 *
 * @since 0.1.0
 * @category dead letters
 */
export const deadLetterSubjectOf = (description: string | undefined): string | undefined =>
  Config.decodeDescription(description).deadLetterSubject
