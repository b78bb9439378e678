/**
 * The SQL checkpoint store: PostgreSQL or SQLite through `effect/sql`'s
 * `SqlClient`, whichever driver the application provides
 * (`@effect/sql-pg`'s `PgClient`, `@herald/sql-sqlite`'s `SqliteClient`).
 *
 * `commit(advance, effect)` is one transaction with the checkpoint and the
 * effect:
 *
 * ```ts
 * sql.withTransaction(
 *   sql`UPDATE herald_projection_checkpoints SET position = ${to}, ...
 *       WHERE projection = ${name} AND stream = ${stream} AND position = ${from} RETURNING 1 AS updated`.pipe(
 *     Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(moved) : effect)
 *   )
 * )
 * ```
 *
 * - The checkpoint moves first: on PostgreSQL the update locks its row, so
 *   a second runner of the same projection waits, then finds the position
 *   moved and rolls back without applying anything. A projection without a
 *   row yet is inserted (`ON CONFLICT DO NOTHING`) when `from` is 0.
 * - The effect runs on the same connection: its SQL, through the same
 *   `SqlClient` (the one in the context), joins the transaction, and both
 *   commit together. Writes through another client or another database are
 *   not covered.
 * - A failure of the effect, a failure of the commit, or an interruption
 *   (a crash, a scope closed in the middle of a batch) rolls back both.
 *
 * `commit` refuses to start inside a transaction that is already open with
 * `NestedTransaction`: its commit would only be a savepoint's, and the outer
 * transaction could still roll the projection back after its checkpoint was
 * reported.
 *
 * Statements run without the client's name transforms; the table is created
 * by `CheckpointMigrations` (at start, unless `migrate: false`).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import * as Checkpoint from "./Checkpoint.ts"
import * as CheckpointMigrations from "./CheckpointMigrations.ts"
import * as Tables from "./internal/checkpointTable.ts"
import * as ReplayError from "./ReplayError.ts"

/**
 * Options of the SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `name` or `schema.name` (default `herald_projection_checkpoints`). */
  readonly table?: string | undefined
  /** Create the table at start when it is missing (default `true`), with `CheckpointMigrations.migrate`. */
  readonly migrate?: boolean | undefined
  /** The `Migrator`'s table (default `<table>_migrations`). */
  readonly migrationsTable?: string | undefined
}

/** A failure of the effect, told apart from the store's own `SqlError`s. */
class EffectFailure<E> {
  readonly error: E
  constructor(error: E) {
    this.error = error
  }
}

const toNumber = (value: number | string | bigint | boolean): number =>
  typeof value === "number" ? value : typeof value === "boolean" ? (value ? 1 : 0) : Number(value)

const toCheckpoint = (row: Tables.Row): Checkpoint.Checkpoint => ({
  projection: row.projection,
  stream: row.stream,
  position: toNumber(row.position),
  rebuilding: toNumber(row.rebuilding) === 1,
  updatedAt: toNumber(row.updated_at)
})

/**
 * Builds the store on the `SqlClient` of the context; creates the table
 * unless `migrate: false`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Checkpoint.CheckpointStore["Service"], ReplayError.ReplayError, SqlClient.SqlClient> = Effect.fn(
  "CheckpointSql.make"
)(function*(options?: Options) {
  const client = yield* SqlClient.SqlClient
  const sql = client.withoutTransforms()
  const table = yield* Effect.fromResult(Tables.parse(options?.table))
  const dialect = yield* Effect.fromResult(Tables.dialectOf(sql))
  if (options?.migrate ?? true) {
    yield* CheckpointMigrations.migrate({ table: table.qualified, migrationsTable: options?.migrationsTable })
  }
  const statements = Tables.statements(dialect, table)
  const transaction = client.transactionService
  const label = `checkpoint table ${table.qualified}`

  const get = (projection: string) =>
    sql.unsafe<Tables.Row>(statements.select, [projection]).pipe(
      Effect.map((rows) => rows.length === 0 ? Option.none<Checkpoint.Checkpoint>() : Option.some(toCheckpoint(rows[0]!))),
      Effect.mapError((e) => ReplayError.store(`read ${label}`, e))
    )

  const list = sql.unsafe<Tables.Row>(statements.selectAll).pipe(
    Effect.map((rows): ReadonlyArray<Checkpoint.Checkpoint> => rows.map(toCheckpoint)),
    Effect.mapError((e) => ReplayError.store(`read ${label}`, e))
  )

  const commit = <A, E, R>(
    advance: Checkpoint.Advance,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | ReplayError.ReplayError, R> =>
    Effect.flatMap(Effect.serviceOption(transaction), (open) =>
      Option.isSome(open)
        ? Effect.fail(ReplayError.make(new ReplayError.NestedTransaction({ projection: advance.projection })))
        : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const rebuilding = advance.rebuilding ? 1 : 0
          const move = Effect.flatMap(
            sql.unsafe(statements.advance, [
              advance.to,
              rebuilding,
              now,
              advance.projection,
              advance.stream,
              advance.from
            ]),
            (rows) =>
              rows.length > 0 || advance.from !== 0
                ? Effect.succeed(rows.length > 0)
                : Effect.map(
                  sql.unsafe(statements.insert, [advance.projection, advance.stream, advance.to, rebuilding, now]),
                  (inserted) => inserted.length > 0
                )
          )
          return sql.withTransaction(
            Effect.flatMap(move, (moved): Effect.Effect<A, EffectFailure<E> | ReplayError.ReplayError | unknown, R> =>
              moved
                ? Effect.mapError(effect, (e) => new EffectFailure(e))
                : Effect.flatMap(get(advance.projection), (found) => Effect.fail(Checkpoint.moved(advance, found))))
          ).pipe(
            Effect.mapError((e: unknown): E | ReplayError.ReplayError =>
              e instanceof EffectFailure
                ? (e.error as E)
                : ReplayError.isReplayError(e)
                ? e
                : ReplayError.store(`commit ${label}`, e)
            )
          )
        }))

  const remove = (projection: string) =>
    sql.unsafe(statements.delete, [projection]).pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.mapError((e) => ReplayError.store(`delete from ${label}`, e))
    )

  return Checkpoint.CheckpointStore.of({
    kind: `sql:${dialect}`,
    guarantee: "atomic",
    get,
    list,
    commit,
    remove
  })
})

/**
 * The SQL store as a layer over the application's `SqlClient`.
 *
 * ```ts
 * const checkpoints = CheckpointSql.layer().pipe(Layer.provide(PgClient.layer({ ... })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Checkpoint.CheckpointStore, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Layer.effect(Checkpoint.CheckpointStore, make(options))
