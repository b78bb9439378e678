/**
 * @herald/replay/kv: the NATS KV snapshot store, a separate entry point so
 * that only applications that use it load `@nats-io/kv` and
 * `@herald/transport-nats` (optional peer dependencies of the package).
 *
 * @since 0.1.0
 */

/**
 * The NATS KV snapshot store: one key per snapshot.
 *
 * @since 0.1.0
 */
export * as SnapshotKv from "./SnapshotKv.ts"
