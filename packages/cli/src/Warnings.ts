/**
 * Node's warnings that `herald` drops. Node 22 warns once that `node:sqlite`
 * is experimental when a command opens a SQLite database
 * (`ExperimentalWarning: SQLite is an experimental feature and might change
 * at any time`): a second line on stderr that people and scripts reading it
 * would have to tell from the command's own. That one warning is dropped;
 * every other warning is printed as Node prints it.
 *
 * @since 0.1.0
 */

/**
 * Whether `warning` (as Node emits it on `process`) is the
 * `ExperimentalWarning` of `node:sqlite`.
 *
 * @since 0.1.0
 * @category warnings
 */
export const isSqliteExperimental = (warning: unknown): boolean =>
  warning instanceof Error && warning.name === "ExperimentalWarning" && /^SQLite\b/.test(warning.message)

/**
 * The part of `process` that `dropSqliteExperimental` patches.
 *
 * @since 0.1.0
 * @category models
 */
export interface Emitter {
  emit: (event: string | symbol, ...args: Array<unknown>) => boolean
}

/**
 * Drops `node:sqlite`'s `ExperimentalWarning` from the `warning` events of
 * `target` (default: `process`), before any listener (Node's own, which
 * prints it) sees it. Every other event and warning passes unchanged. Call
 * it before anything loads `node:sqlite`.
 *
 * @since 0.1.0
 * @category warnings
 */
export const dropSqliteExperimental = (target: Emitter = process as unknown as Emitter): void => {
  const emit = target.emit
  target.emit = function(this: unknown, event: string | symbol, ...args: Array<unknown>): boolean {
    if (event === "warning" && isSqliteExperimental(args[0])) return false
    return Reflect.apply(emit, this, [event, ...args]) as boolean
  }
}
