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
