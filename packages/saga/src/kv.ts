/**
 * @herald/saga/kv: the NATS KV saga store, a separate entry point so that
 * only applications that use it load `@nats-io/kv` and
 * `@herald/transport-nats` (optional peer dependencies of the package).
 *
 * @since 0.1.0
 */

/**
 * The NATS KV store: one document per instance, written with a
 * compare-and-set, and index keys for timeouts and unsent messages.
 *
 * @since 0.1.0
 */
export * as SagaKv from "./SagaKv.ts"
