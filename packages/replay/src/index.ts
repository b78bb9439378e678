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
