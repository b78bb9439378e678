/**
 * One table of a replay SQL store (checkpoints, correlation index,
 * snapshots): its name checked and quoted (`SqlName`), the dialect of the
 * client, and its migrations, run by `effect/sql`'s `Migrator` with the
 * table's own migrations table (`<table>_migrations` by default), so that
 * they never mix with an application's migration ids.
 *
 * @since 0.1.0
 * @internal
 */
import { SqlName } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import * as ReplayError from "../ReplayError.ts"

/** The dialects the SQL stores speak. */
export type Dialect = SqlName.Dialect

/** A checked table name. */
export interface Table {
  /** As given: `name` or `schema.name`. */
  readonly qualified: string
  readonly schema: string | undefined
  readonly name: string
  /** Quoted for SQL: `"name"` or `"schema"."name"`. */
  readonly quoted: string
}

/** What a store says of its table. */
export interface Spec {
  /** How messages name the table (`"checkpoint table"`). */
  readonly what: string
  readonly defaultTable: string
  /** The longest name: 63 minus the longest suffix the store appends. */
  readonly maxLength: number
  /** The key of PostgreSQL's advisory lock around the DDL. */
  readonly lock: string
  /** The migration's id in the migrations table. */
  readonly migration: string
  /** The span name of `migrate`. */
  readonly span: string
  readonly ddl: (dialect: Dialect, table: Table) => ReadonlyArray<string>
  /** The migrations after the first, in order: each adds a nullable column. */
  readonly columns?: ReadonlyArray<Column> | undefined
}

/** A nullable column added to the table by a later migration. */
export interface Column {
  /** The migration's id in the migrations table (`2_add_kind`). */
  readonly migration: string
  readonly name: string
  /** Its SQL type, the same in both dialects (`TEXT`). */
  readonly type: string
}

/**
 * The statement adding a column. PostgreSQL's skips a column already there;
 * SQLite has no such clause (`addColumn` looks first).
 */
const addColumnStatement = (dialect: Dialect, table: Table, column: Column): string =>
  `ALTER TABLE ${table.quoted} ADD COLUMN ${dialect === "pg" ? "IF NOT EXISTS " : ""}${column.name} ${column.type}`

/** Options of the migrations. */
export interface MigrationOptions {
  readonly table?: string | undefined
  readonly migrationsTable?: string | undefined
}

/** The dialect of a client, when the stores support it. */
export const dialectOf = (sql: SqlClient.SqlClient): Result.Result<Dialect, ReplayError.ReplayError> =>
  Result.mapError(SqlName.dialect(sql), (dialect) => ReplayError.make(new ReplayError.UnsupportedDialect({ dialect })))

/** The table's name checks, DDL and migrations. */
export const make = (spec: Spec) => {
  const parse = (
    input: string | undefined,
    options?: { readonly what?: string; readonly maxLength?: number }
  ): Result.Result<Table, ReplayError.ReplayError> =>
    Result.mapBoth(
      SqlName.parse(input ?? spec.defaultTable, {
        what: options?.what ?? spec.what,
        maxLength: options?.maxLength ?? spec.maxLength
      }),
      {
        onFailure: ReplayError.invalid,
        onSuccess: (name) => ({ qualified: name.qualified, schema: name.schema, name: name.name, quoted: name.quote() })
      }
    )

  const statements = (
    dialect: Dialect,
    options?: MigrationOptions
  ): Result.Result<ReadonlyArray<string>, ReplayError.ReplayError> =>
    Result.map(parse(options?.table), (table) => [
      ...spec.ddl(dialect, table),
      ...columns.map((column) => addColumnStatement(dialect, table, column))
    ])

  const columns = spec.columns ?? []

  /** Adds a column unless it is there. */
  const addColumn = (sql: SqlClient.SqlClient, dialect: Dialect, table: Table, column: Column) =>
    dialect === "pg"
      ? sql.unsafe(addColumnStatement(dialect, table, column)).raw
      : Effect.flatMap(
        sql.unsafe<{ readonly name: string }>(
          `PRAGMA ${table.schema === undefined ? "" : `"${table.schema}".`}table_info("${table.name}")`
        ),
        (existing) =>
          existing.some((c) => c.name === column.name)
            ? Effect.void
            : sql.unsafe(addColumnStatement(dialect, table, column)).raw
      )

  /** Runs `steps` in one transaction (under PostgreSQL's advisory lock of the table). */
  const transaction = (
    options: MigrationOptions | undefined,
    steps: (sql: SqlClient.SqlClient, dialect: Dialect, table: Table) => Effect.Effect<unknown, unknown>
  ): Effect.Effect<void, ReplayError.ReplayError, SqlClient.SqlClient> =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const dialect = yield* Effect.fromResult(dialectOf(sql))
      const table = yield* Effect.fromResult(parse(options?.table))
      const run = steps(sql, dialect, table)
      yield* sql.withTransaction(
        dialect === "pg"
          // concurrent `CREATE TABLE IF NOT EXISTS` can still collide on PostgreSQL's catalog
          ? Effect.andThen(sql`SELECT pg_advisory_xact_lock(hashtext(${`${spec.lock}:${table.qualified}`}))`, run)
          : run
      ).pipe(Effect.asVoid, Effect.mapError((e) => ReplayError.store(`migrate ${table.qualified}`, e)))
    })

  /** The first migration: the table as it was first made. */
  const create = (options?: MigrationOptions) =>
    transaction(options, (sql, dialect, table) =>
      Effect.forEach(spec.ddl(dialect, table), (statement) => sql.unsafe(statement).raw, { discard: true }))

  /** Every migration as one idempotent effect: the table, then its later columns. */
  const migration = (options?: MigrationOptions): Effect.Effect<void, ReplayError.ReplayError, SqlClient.SqlClient> =>
    transaction(options, (sql, dialect, table) =>
      Effect.andThen(
        Effect.forEach(spec.ddl(dialect, table), (statement) => sql.unsafe(statement).raw, { discard: true }),
        Effect.forEach(columns, (column) => addColumn(sql, dialect, table, column), { discard: true })
      ))

  const migrate = Effect.fn(spec.span)(function*(options?: MigrationOptions) {
    const table = yield* Effect.fromResult(parse(options?.table))
    const migrationsTable = options?.migrationsTable ?? `${table.qualified}_migrations`
    const checked = yield* Effect.fromResult(parse(migrationsTable, { what: "migrations table", maxLength: 63 }))
    const run = Migrator.make({})({
      loader: Migrator.fromRecord({
        [spec.migration]: create({ table: table.qualified }),
        ...Object.fromEntries(columns.map((column) => [
          column.migration,
          transaction({ table: table.qualified }, (sql, dialect, t) => addColumn(sql, dialect, t, column))
        ]))
      }),
      table: checked.qualified
    })
    return yield* Effect.mapError(run, (error) =>
      // A failure of the DDL itself is already a `ReplayError`, wrapped by the `Migrator`.
      error._tag === "MigrationError" && ReplayError.isReplayError(error.cause)
        ? error.cause
        : ReplayError.store(`migrate ${table.qualified}`, error))
  })

  const layer = (options?: MigrationOptions): Layer.Layer<never, ReplayError.ReplayError, SqlClient.SqlClient> =>
    Layer.effectDiscard(migrate(options))

  return { parse, statements, migration, migrate, layer }
}
