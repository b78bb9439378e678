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

/**
 * Saga definitions: handlers returning transitions, and linear steps with compensations.
 *
 * @since 0.1.0
 */
export * as Saga from "./Saga.ts"

/**
 * The engine: one message or one due timeout applied as one atomic transition.
 *
 * @since 0.1.0
 */
export * as SagaEngine from "./SagaEngine.ts"

/**
 * The runner: a saga fed by a durable consumer, with its timeouts fired.
 *
 * @since 0.1.0
 */
export * as SagaRunner from "./SagaRunner.ts"

/**
 * Queries: one instance with its state and pending timeouts, instances by status, history.
 *
 * @since 0.1.0
 */
export * as SagaQuery from "./SagaQuery.ts"

/**
 * The `herald.saga.instances` gauge: instances by saga and status, read from the store.
 *
 * @since 0.1.0
 */
export * as SagaMetrics from "./SagaMetrics.ts"

/**
 * The SQL store (PostgreSQL and SQLite), with outgoing messages in the
 * outbox, in the commit's transaction.
 *
 * @since 0.1.0
 */
export * as SagaSql from "./SagaSql.ts"

/**
 * The SQL store's tables: migrations and DDL.
 *
 * @since 0.1.0
 */
export * as SagaMigrations from "./SagaMigrations.ts"
