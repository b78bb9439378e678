/**
 * @herald/inbox/kv: the NATS KV inbox store, a separate entry point so that
 * only applications that use it load `@nats-io/kv` and
 * `@herald/transport-nats` (optional peer dependencies of the package).
 *
 * @since 0.1.0
 */

/**
 * The NATS KV store: create-only keys in a bucket with a TTL.
 *
 * @since 0.1.0
 */
export * as InboxKv from "./InboxKv.ts"

