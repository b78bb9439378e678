/**
 * The SQL `SnapshotStore`: PostgreSQL (`@effect/sql-pg`) and SQLite
 * (`@herald/sql-sqlite`), through `effect/sql`'s `SqlClient` only.
 *
 * ```ts
 * const Snapshots = SnapshotSql.layer().pipe(Layer.provide(PgClient.layer({ url })))
 * ```
 *
 * One table (`herald_replay_snapshots` by default; any identifier,
 * optionally `schema.table`):
 *
 * | column | type | |
 * |---|---|---|
 * | `name` | `TEXT` | the projection; primary key `(name, sequence)` |
 * | `sequence` | `BIGINT` / `INTEGER` | the last sequence the state covers |
 * | `stream` | `TEXT` | |
 * | `state` | `TEXT` | JSON, encoded by the projection's Schema |
 * | `at` | `BIGINT` / `INTEGER` | when it was taken, Unix epoch milliseconds |
 *
 * The table is created by `migrate` (at start, unless `migrate: false`),
 * which runs `effect/sql`'s `Migrator` with the store's own migrations table
 * (`<table>_migrations` by default), so it never mixes with the
 * application's migration ids; `migration` is the same DDL as one effect for
 * the application's own `Migrator`, `statements` the DDL as text.
 *
 * Errors: a failed statement is a `StoreError` classified by
 * `StoreFault.classify`; a stored state that is not JSON (edited by hand) is
 * a `CorruptState`. Statements run without the client's name transforms.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as Table from "./internal/snapshotTable.ts"
import * as ReplayError from "./ReplayError.ts"
import * as Snapshot from "./Snapshot.ts"

/**
 * Options of the SQL store and its migrations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table, `table` or `schema.table` (default `herald_replay_snapshots`). */
  readonly table?: string | undefined
  /** Run `migrate` at start (default `true`). */
  readonly migrate?: boolean | undefined
  /** The `Migrator`'s table (default `<table>_migrations`). */
  readonly migrationsTable?: string | undefined
}

/**
 * The SQL dialects the store supports.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = Table.Dialect

/**
 * The default table.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTable: string = Table.defaultTable

/**
 * The DDL for a dialect, one statement per element. Fails with
 * `InvalidConfig` when the table is not an identifier.
 *
 * @since 0.1.0
 * @category migrations
 */
export const statements = (
  dialect: Dialect,
  options?: Pick<Options, "table">
): Result.Result<ReadonlyArray<string>, ReplayError.ReplayError> => Table.table.statements(dialect, options)

/**
 * The DDL as one effect on the `SqlClient` of the context, in one
 * transaction: idempotent, for an application's own `Migrator`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migration = (
  options?: Pick<Options, "table">
): Effect.Effect<void, ReplayError.ReplayError, SqlClient.SqlClient> => Table.table.migration(options)

/**
 * Runs the snapshot migrations with `effect/sql`'s `Migrator`, recording
 * them in the store's own migrations table; answers the migrations it ran.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (
  options?: Omit<Options, "migrate">
): Effect.Effect<ReadonlyArray<readonly [id: number, name: string]>, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Table.table.migrate(options)

/**
 * A layer that runs `migrate` when it is built.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrationLayer = (
  options?: Omit<Options, "migrate">
): Layer.Layer<never, ReplayError.ReplayError, SqlClient.SqlClient> => Layer.effectDiscard(migrate(options))

type Int = number | string | bigint

interface Row {
  readonly name: string
  readonly sequence: Int
  readonly stream: string
  readonly state: string
  readonly at: Int
}

const num = (value: Int): number => typeof value === "number" ? value : Number(value)

const toStored = (row: Row): Effect.Effect<Snapshot.Stored, ReplayError.ReplayError> => {
  const sequence = num(row.sequence)
  try {
    return Effect.succeed({ name: row.name, stream: row.stream, sequence, state: JSON.parse(row.state), at: num(row.at) })
  } catch (cause) {
    return Effect.fail(
      Snapshot.corrupt(row.name, `snapshot at sequence ${sequence}: the stored JSON does not parse`, cause)
    )
  }
}

/**
 * Builds the store on the `SqlClient` of the context; runs the migrations
 * unless `migrate: false`. Fails with `InvalidConfig` for a table that is
 * not an identifier and `UnsupportedDialect` for a client that is neither
 * PostgreSQL nor SQLite.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Snapshot.SnapshotStore["Service"], ReplayError.ReplayError, SqlClient.SqlClient> = Effect.fn(
  "SnapshotSql.make"
)(function*(options?: Options) {
  const client = yield* SqlClient.SqlClient
  const sql = client.withoutTransforms()
  const table = yield* Effect.fromResult(Table.parse(options?.table))
  const dialect = yield* Effect.fromResult(Table.dialectOf(sql))
  if (options?.migrate ?? true) {
    yield* migrate({ table: table.qualified, migrationsTable: options?.migrationsTable })
  }
  const t = sql.literal(table.quoted)
  const failed = (operation: string) => (cause: unknown) => ReplayError.store(`${operation} (${table.qualified})`, cause)
  const columns = sql.literal("name, sequence, stream, state, at")

  const save = (name: string, entry: Snapshot.Entry) =>
    Effect.flatMap(Effect.fromResult(Snapshot.check(name, entry)), (state) =>
      sql`INSERT INTO ${t} ${
        sql.insert({ name, sequence: entry.sequence, stream: entry.stream, state, at: entry.at })
      } ON CONFLICT (name, sequence) DO UPDATE SET stream = excluded.stream, state = excluded.state, at = excluded.at`
        .pipe(Effect.asVoid, Effect.mapError(failed("save"))))

  const latest = (name: string) =>
    sql<Row>`SELECT ${columns} FROM ${t} WHERE name = ${name} ORDER BY sequence DESC LIMIT 1`.pipe(
      Effect.mapError(failed("latest")),
      Effect.flatMap((rows) =>
        rows.length === 0 ? Effect.succeed(Option.none<Snapshot.Stored>()) : Effect.map(toStored(rows[0]!), Option.some)
      )
    )

  const list = (name: string) =>
    sql<Row>`SELECT ${columns} FROM ${t} WHERE name = ${name} ORDER BY sequence DESC`.pipe(
      Effect.mapError(failed("list")),
      Effect.flatMap((rows) => Effect.forEach(rows, toStored))
    )

  const prune = (name: string, keep: number) =>
    Effect.flatMap(Effect.fromResult(Snapshot.checkCount("keep", keep)), (keep) =>
      sql<{ readonly ok: number }>`DELETE FROM ${t} WHERE name = ${name} AND sequence NOT IN (
  SELECT sequence FROM ${t} WHERE name = ${name} ORDER BY sequence DESC LIMIT ${keep}
) RETURNING 1 AS ok`.pipe(Effect.map((rows) => rows.length), Effect.mapError(failed("prune"))))

  const remove = (name: string, sequence: number) =>
    Effect.flatMap(Effect.fromResult(Snapshot.checkCount("sequence", sequence)), (sequence) =>
      sql<{ readonly ok: number }>`DELETE FROM ${t} WHERE name = ${name} AND sequence = ${sequence} RETURNING 1 AS ok`
        .pipe(Effect.map((rows) => rows.length > 0), Effect.mapError(failed("remove"))))

  return Snapshot.SnapshotStore.of({ kind: `sql:${dialect}`, save, latest, list, prune, remove })
})

/**
 * The SQL store as a layer over the application's `SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Snapshot.SnapshotStore, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Layer.effect(Snapshot.SnapshotStore, make(options))
