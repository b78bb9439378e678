/**
 * The database of the SQL-backed commands (`tree`, `saga`, `outbox`), named
 * by `DATABASE_URL`:
 *
 * | `DATABASE_URL` | database |
 * |---|---|
 * | `postgres://user:password@host:port/db`, `postgresql://…` | PostgreSQL (`@effect/sql-pg`) |
 * | `sqlite:/path/app.db`, `sqlite:///path/app.db`, `sqlite:app.db` | a SQLite file (`@herald/sql-sqlite`) |
 * | `file:/path/app.db`, `file:///path/app.db` | a SQLite file |
 * | a path ending in `.db`, `.sqlite` or `.sqlite3` | a SQLite file |
 *
 * The commands only read. A SQLite file is opened read-only and must exist
 * (an empty database is never created by mistake). A database that cannot
 * be reached or refuses the connection, and tables that were never created,
 * are a `CommandError` whose message says so in one line; a password never
 * appears in it.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import * as CommandError from "./CommandError.ts"

/**
 * Where `DATABASE_URL` points. `display` names the database without its
 * password.
 *
 * @since 0.1.0
 * @category models
 */
export type Target =
  | { readonly _tag: "Postgres"; readonly url: string; readonly display: string }
  | { readonly _tag: "Sqlite"; readonly filename: string; readonly display: string }

/**
 * The database of a command: its dialect and its name for messages.
 *
 * @since 0.1.0
 * @category services
 */
export class Database extends Context.Service<Database, {
  readonly dialect: "pg" | "sqlite"
  readonly display: string
}>()("@herald/cli/Database") {}

const schemes = "postgres://…, postgresql://…, sqlite:/path/app.db, file:/path/app.db or a path ending in .db or .sqlite"

const sqliteFile = /\.(db|sqlite|sqlite3)$/i

/**
 * Reads a `DATABASE_URL`. Fails with `InvalidInput` for a scheme it does
 * not know or a URL that does not parse (naming the scheme only, never the
 * password).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (url: string): Effect.Effect<Target, CommandError.CommandError> => {
  const text = url.trim()
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let parsed: URL
    try {
      parsed = new URL(text)
    } catch {
      return Effect.fail(CommandError.invalid("malformed DATABASE_URL: not a valid postgres:// URL"))
    }
    const user = parsed.username === "" ? "" : `${decodeURIComponent(parsed.username)}@`
    const port = parsed.port === "" ? "5432" : parsed.port
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""))
    const host = parsed.hostname === "" ? "localhost" : parsed.hostname
    return Effect.succeed({
      _tag: "Postgres",
      url: text,
      display: `postgres://${user}${host}:${port}/${database === "" ? user.replace(/@$/, "") : database}`
    })
  }
  let filename: string | undefined
  if (/^sqlite:/i.test(text)) {
    filename = text.slice("sqlite:".length).replace(/^\/\//, "")
  } else if (/^file:/i.test(text)) {
    try {
      filename = text.startsWith("file://") ? Url.fileURLToPath(text) : text.slice("file:".length)
    } catch {
      return Effect.fail(CommandError.invalid("malformed DATABASE_URL: not a valid file: URL"))
    }
  } else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && sqliteFile.test(text)) {
    filename = text
  }
  if (filename === undefined) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)
    return Effect.fail(CommandError.invalid(
      scheme === null
        ? `DATABASE_URL names no database herald knows: expected ${schemes}`
        : `unsupported DATABASE_URL scheme "${scheme[1]}:": expected ${schemes}`
    ))
  }
  if (filename === "" || filename === ":memory:") {
    return Effect.fail(CommandError.invalid("DATABASE_URL names no SQLite file"))
  }
  const resolved = Path.resolve(filename)
  return Effect.succeed({ _tag: "Sqlite", filename: resolved, display: resolved })
}

/** The deepest message of an error's causes: what the driver said. */
const rootMessage = (error: unknown): string => {
  let message = error instanceof Error ? error.message : String(error)
  let current: unknown = error
  for (let depth = 0; depth < 16 && typeof current === "object" && current !== null && "cause" in current; depth++) {
    current = (current as { readonly cause: unknown }).cause
    if (current instanceof Error && current.message !== "") message = current.message
  }
  return message
}

/** A client opened (and tried) when the layer is built, closed when it is released; a failure to open is a `Database` reason. */
const clientLayer = (
  make: Effect.Effect<SqlClient.SqlClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity>,
  problem: (error: SqlError.SqlError) => string
): Layer.Layer<SqlClient.SqlClient, CommandError.CommandError> =>
  Layer.effect(
    SqlClient.SqlClient,
    // A pool connects on its first statement: one here, so that an
    // unreachable or refusing database is told as such.
    Effect.tap(make, (client) => client.withoutTransforms()`SELECT 1`).pipe(
      Effect.mapError((error) => CommandError.database(problem(error)))
    )
  ).pipe(Layer.provide(Reactivity.layer))

const sqliteLayer = (filename: string, display: string) =>
  Effect.gen(function*() {
    const stat = yield* Effect.sync(() => Fs.statSync(filename, { throwIfNoEntry: false }))
    if (stat === undefined) return yield* Effect.fail(CommandError.database(`SQLite database ${display} does not exist`))
    if (!stat.isFile()) return yield* Effect.fail(CommandError.database(`SQLite database ${display} is not a file`))
    // The drivers load when a command needs one: `node:sqlite` only for a SQLite file.
    const { SqliteClient } = yield* Effect.promise(() => import("@herald/sql-sqlite"))
    return clientLayer(
      SqliteClient.make({ filename, readonly: true }),
      (error) => `cannot open SQLite database ${display}: ${rootMessage(error)}`
    )
  })

const pgLayer = (url: string, display: string) =>
  Effect.map(Effect.promise(() => import("@effect/sql-pg")), ({ PgClient }) =>
    clientLayer(
      PgClient.make({ url: Redacted.make(url), connectTimeout: "10 seconds", minConnections: 0, maxConnections: 2 }),
      (error) => `cannot connect to PostgreSQL at ${display}: ${rootMessage(error)}`
    ))

/**
 * The `SqlClient` and the `Database` of a target: the connection is opened
 * (and checked) when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTarget = (
  target: Target
): Layer.Layer<SqlClient.SqlClient | Database, CommandError.CommandError> => {
  const info = Layer.succeed(Database, Database.of({
    dialect: target._tag === "Postgres" ? "pg" : "sqlite",
    display: target.display
  }))
  const client: Layer.Layer<SqlClient.SqlClient, CommandError.CommandError> = target._tag === "Postgres"
    ? Layer.unwrap(pgLayer(target.url, target.display))
    : Layer.unwrap(sqliteLayer(target.filename, target.display))
  return Layer.merge(client, info)
}

/**
 * The database named by `DATABASE_URL`; fails when it is not set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<SqlClient.SqlClient | Database, CommandError.CommandError> = Layer.unwrap(
  Effect.gen(function*() {
    const url = yield* Config.option(Config.String("DATABASE_URL")).pipe(
      Effect.mapError(() => CommandError.database("DATABASE_URL cannot be read"))
    )
    if (Option.isNone(url) || url.value.trim() === "") {
      return yield* Effect.fail(
        CommandError.database(`DATABASE_URL is not set: this command reads a database (${schemes})`)
      )
    }
    return layerTarget(yield* parse(url.value))
  })
)

const identifier = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/

/**
 * Checks a table name or prefix given on the command line: an identifier,
 * optionally `schema.name`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const tableName = (what: string, name: string): Effect.Effect<string, CommandError.CommandError> =>
  identifier.test(name)
    ? Effect.succeed(name)
    : Effect.fail(CommandError.invalid(`malformed ${what} ${JSON.stringify(name)}: expected an identifier or schema.name`))

/**
 * Fails with a `Database` reason unless every table exists: `what` says
 * which part of Herald creates them (`the correlation index`).
 *
 * @since 0.1.0
 * @category checks
 */
export const requireTables = (
  tables: ReadonlyArray<string>,
  what: string
): Effect.Effect<void, CommandError.CommandError, SqlClient.SqlClient | Database> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const database = yield* Database
    for (const table of tables) {
      const parts = table.split(".")
      const name = parts[parts.length - 1]!
      const found = database.dialect === "pg"
        ? yield* sql<{ readonly ok: boolean }>`SELECT to_regclass(${
          parts.map((p) => `"${p}"`).join(".")
        }) IS NOT NULL AS ok`.pipe(Effect.map((rows) => rows[0]?.ok === true))
        : yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM ${
          sql.literal(parts.length === 2 ? `"${parts[0]}".sqlite_master` : "sqlite_master")
        } WHERE type = 'table' AND name = ${name}`.pipe(Effect.map((rows) => Number(rows[0]?.n ?? 0) > 0))
      if (!found) {
        return yield* Effect.fail(
          CommandError.database(`table ${table} not found in ${database.display}: ${what} has not created its tables there`)
        )
      }
    }
  }).pipe(
    Effect.catchTag("SqlError", (error) => Effect.fail(failed("cannot read the database")(error)))
  )

/**
 * Turns a store's failure into a `Database` reason: `<doing>: <what the
 * database said>`, on the database's name.
 *
 * @since 0.1.0
 * @category errors
 */
export const failed = (doing: string) => (error: unknown): CommandError.CommandError =>
  CommandError.isCommandError(error) ? error : CommandError.database(`${doing}: ${rootMessage(error)}`)
