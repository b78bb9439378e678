/**
 * @herald/replay: bounded replays by sequence, time and correlation in
 * causal order; projections with atomic checkpoints; snapshots.
 *
 * @since 0.1.0
 */

/**
 * Bounded replays by sequence and time, with pacing and progress; flows in causal order.
 *
 * @since 0.1.0
 */
export * as Replay from "./Replay.ts"

/**
 * The error of the package, with its reasons.
 *
 * @since 0.1.0
 */
export * as ReplayError from "./ReplayError.ts"

/**
 * State projections: a value folded over a stream's messages by a bounded replay.
 *
 * @since 0.1.0
 */
export * as StateProjection from "./StateProjection.ts"

/**
 * Snapshots of state projections (`take`, `restore`: load then catch up to the head) and the store contract.
 *
 * @since 0.1.0
 */
export * as Snapshot from "./Snapshot.ts"

/**
 * The SQL snapshot store (PostgreSQL and SQLite) and its migrations.
 *
 * @since 0.1.0
 */
export * as SnapshotSql from "./SnapshotSql.ts"

/**
 * The in-memory snapshot store.
 *
 * @since 0.1.0
 */
export * as SnapshotMemory from "./SnapshotMemory.ts"

/**
 * Projections: a named read model applied from a stream, with an optional reset hook.
 *
 * @since 0.1.0
 */
export * as Projection from "./Projection.ts"

/**
 * Runs projections from their checkpoint to the head, then live; rebuilds them; their status.
 *
 * @since 0.1.0
 */
export * as ProjectionRunner from "./ProjectionRunner.ts"

/**
 * The projection checkpoint store contract.
 *
 * @since 0.1.0
 */
export * as Checkpoint from "./Checkpoint.ts"

/**
 * Checkpoints in PostgreSQL or SQLite, committed in the projection's own transaction.
 *
 * @since 0.1.0
 */
export * as CheckpointSql from "./CheckpointSql.ts"

/**
 * The checkpoint table's migrations.
 *
 * @since 0.1.0
 */
export * as CheckpointMigrations from "./CheckpointMigrations.ts"

/**
 * Checkpoints in memory.
 *
 * @since 0.1.0
 */
export * as CheckpointMemory from "./CheckpointMemory.ts"

/**
 * The correlation index: the store contract (entries keyed by stream and
 * sequence, looked up by correlation id) and the durable consumer that
 * builds it.
 *
 * @since 0.1.0
 */
export * as CorrelationIndex from "./CorrelationIndex.ts"

/**
 * The correlation index in memory.
 *
 * @since 0.1.0
 */
export * as CorrelationIndexMemory from "./CorrelationIndexMemory.ts"

/**
 * The correlation index table's migrations, for PostgreSQL and SQLite.
 *
 * @since 0.1.0
 */
export * as CorrelationIndexMigrations from "./CorrelationIndexMigrations.ts"

/**
 * The correlation index in SQL: PostgreSQL and SQLite through `SqlClient`.
 *
 * @since 0.1.0
 */
export * as CorrelationIndexSql from "./CorrelationIndexSql.ts"
