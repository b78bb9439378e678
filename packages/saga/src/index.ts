/**
 * @herald/saga: durable process managers (sagas) with compensation in
 * reverse order and timeouts that survive restarts.
 *
 * The NATS KV store is a separate entry point, `@herald/saga/kv`, so that
 * applications without it do not load `@nats-io/kv`.
 *
 * @since 0.1.0
 */

/**
 * The error of the package, with its reasons.
 *
 * @since 0.1.0
 */
export * as SagaError from "./SagaError.ts"

/**
 * The store contract and its models.
 *
 * @since 0.1.0
 */
export * as SagaStore from "./SagaStore.ts"

/**
 * The in-memory store.
 *
 * @since 0.1.0
 */
export * as SagaMemory from "./SagaMemory.ts"
