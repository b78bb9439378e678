/**
 * @herald/cli: the `herald` command.
 *
 * @since 0.1.0
 */

/**
 * The command tree and the program the `herald` binary runs.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"

/**
 * The error of every command.
 *
 * @since 0.1.0
 */
export * as CommandError from "./CommandError.ts"

/**
 * The database of the SQL-backed commands, from `DATABASE_URL`.
 *
 * @since 0.1.0
 */
export * as Database from "./Database.ts"

/**
 * Dead letters: list, show, send again, purge.
 *
 * @since 0.1.0
 */
export * as DeadLetters from "./DeadLetters.ts"

/**
 * Tables, sizes and times for people.
 *
 * @since 0.1.0
 */
export * as Format from "./Format.ts"

/**
 * Reading sequences, times and limits from the command line.
 *
 * @since 0.1.0
 */
export * as Input from "./Input.ts"

/**
 * The state of an outbox table.
 *
 * @since 0.1.0
 */
export * as OutboxStatus from "./OutboxStatus.ts"

/**
 * `herald replay`: a range of a stream appended again to a subject.
 *
 * @since 0.1.0
 */
export * as ReplayCommand from "./ReplayCommand.ts"

/**
 * Stream and consumer reports.
 *
 * @since 0.1.0
 */
export * as Reports from "./Reports.ts"

/**
 * Appending a stored message again: a fresh `Nats-Msg-Id`, the same `Herald-Message-Id`.
 *
 * @since 0.1.0
 */
export * as Resend from "./Resend.ts"

/**
 * `herald tail`: the messages on a subject as they arrive.
 *
 * @since 0.1.0
 */
export * as Tail from "./Tail.ts"

/**
 * Saga instances: list and show.
 *
 * @since 0.1.0
 */
export * as Sagas from "./Sagas.ts"

/**
 * The `tree`, `saga` and `outbox` commands.
 *
 * @since 0.1.0
 */
export * as SqlCommands from "./SqlCommands.ts"

/**
 * The causation tree of one flow, from the correlation index.
 *
 * @since 0.1.0
 */
export * as Tree from "./Tree.ts"

/**
 * Node warnings the binary drops (`node:sqlite`'s `ExperimentalWarning`).
 *
 * @since 0.1.0
 */
export * as Warnings from "./Warnings.ts"
