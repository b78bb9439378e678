/**
 * An `effect/sql` `SqlClient` for SQLite on Node's built-in `node:sqlite`
 * (`DatabaseSync`), built against effect 4.1.
 *
 * One database connection per client, shared by every fiber: a statement
 * borrows it for the time it runs, a transaction (and `reserve`, and a
 * `stream`) holds it until it ends, so statements of other fibers wait and
 * never run inside someone else's transaction. Nested `withTransaction` uses
 * savepoints. A failure is a `SqlError` whose reason is chosen from the
 * SQLite result code, with the `node:sqlite` error (`errcode`, `errstr`)
 * kept as its `cause`.
 *
 * @since 0.1.0
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import * as Config from "effect/Config"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Client from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as internal from "./internal/error.ts"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: TypeId = "~@herald/sql-sqlite/SqliteClient"

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = "~@herald/sql-sqlite/SqliteClient"

/**
 * The client: an `effect/sql` `SqlClient` (use it as one) and the settings it
 * was made with. `updateValues` is not supported by SQLite's compiler.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqliteClient extends Client.SqlClient {
  readonly [TypeId]: TypeId
  readonly config: SqliteClientConfig
  /** Not supported on SQLite. */
  readonly updateValues: never
}

/**
 * The client's service; `layer` provides it together with `SqlClient`.
 *
 * @since 0.1.0
 * @category services
 */
export const SqliteClient: Context.Service<SqliteClient, SqliteClient> = Context.Service<SqliteClient>(
  "@herald/sql-sqlite/SqliteClient"
)

/**
 * What the client opens and how.
 *
 * - `filename`: the database file, or `":memory:"` for a private in-memory
 *   database.
 * - `readonly`: open read-only (default `false`); the file must exist.
 * - `disableWAL`: keep SQLite's rollback journal instead of switching a
 *   writable file database to WAL (default `false`: WAL is on).
 * - `busyTimeout`: how long a statement waits for a lock held by another
 *   connection (another process) before failing with a `LockTimeoutError`.
 *   `node:sqlite` is synchronous, so the wait blocks the event loop; default
 *   0, fail at once.
 * - `foreignKeys`: enforce foreign key constraints (default `true`).
 * - `prepareCacheSize`: prepared statements kept for reuse, least recently
 *   used dropped first (default 200; 0 prepares every statement afresh).
 * - `spanAttributes`: added to every query's span.
 * - `transformQueryNames` / `transformResultNames`: rename identifiers on the
 *   way in and columns on the way out (e.g. camelCase ⇄ snake_case).
 *
 * @since 0.1.0
 * @category models
 */
export interface SqliteClientConfig {
  readonly filename: string
  readonly readonly?: boolean | undefined
  readonly disableWAL?: boolean | undefined
  readonly busyTimeout?: Duration.Input | undefined
  readonly foreignKeys?: boolean | undefined
  readonly prepareCacheSize?: number | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
  readonly transformQueryNames?: ((str: string) => string) | undefined
  readonly transformResultNames?: ((str: string) => string) | undefined
}

/**
 * The driver name of the client (`SqlClient.driver`).
 *
 * @since 0.1.0
 * @category constants
 */
export const driver = "herald-sqlite"

/**
 * The extended SQLite result code of a failure (e.g. 2067 for
 * `SQLITE_CONSTRAINT_UNIQUE`, 5 for `SQLITE_BUSY`), read from the
 * `node:sqlite` error kept in the `SqlError`'s reason; `undefined` when the
 * failure did not come from SQLite (a value that cannot be bound, say).
 *
 * @since 0.1.0
 * @category errors
 */
export const resultCode = (error: SqlError): number | undefined => internal.resultCodeOf(error.reason.cause)

const DEFAULT_PREPARE_CACHE_SIZE = 200
const STREAM_CHUNK_SIZE = 128
const MAX_BUSY_TIMEOUT_MILLIS = 2_147_483_647

/** A value SQLite can bind, or the reason it cannot. */
const bindValue = (value: unknown, index: number): SQLInputValue | SqlError => {
  switch (typeof value) {
    case "string":
    case "number":
    case "bigint":
      return value
    case "boolean":
      return value ? 1 : 0
    case "undefined":
      return null
    case "object":
      if (value === null) return null
      if (ArrayBuffer.isView(value)) return value as NodeJS.ArrayBufferView
      if (value instanceof Date) {
        return Number.isNaN(value.getTime())
          ? internal.invalid(`parameter ${index + 1} is an invalid Date`, "bind")
          : value.toISOString()
      }
  }
  return internal.invalid(
    `parameter ${index + 1} cannot be bound to SQLite: a ${
      Predicate.isObject(value) ? value.constructor?.name ?? "object" : typeof value
    } (encode it first, e.g. JSON.stringify)`,
    "bind",
    value
  )
}

const bind = (params: ReadonlyArray<unknown>): Effect.Effect<Array<SQLInputValue>, SqlError> => {
  const values: Array<SQLInputValue> = new Array(params.length)
  for (let i = 0; i < params.length; i++) {
    const value = bindValue(params[i], i)
    if (isSqlError(value)) return Effect.fail(value)
    values[i] = value
  }
  return Effect.succeed(values)
}

/** Prepared statements by SQL text, least recently used first. */
const makeCache = (db: DatabaseSync, capacity: number, returnArrays: boolean) => {
  const cache = new Map<string, StatementSync>()
  return (sql: string): StatementSync => {
    const cached = cache.get(sql)
    if (cached !== undefined) {
      cache.delete(sql)
      cache.set(sql, cached)
      return cached
    }
    const statement = db.prepare(sql)
    if (returnArrays) statement.setReturnArrays(true)
    if (capacity > 0) {
      cache.set(sql, statement)
      if (cache.size > capacity) cache.delete(cache.keys().next().value!)
    }
    return statement
  }
}

interface SqliteConnection extends Connection {
  readonly db: DatabaseSync
}

const makeConnection = (db: DatabaseSync, cacheSize: number): SqliteConnection => {
  const rowsCache = makeCache(db, cacheSize, false)
  const valuesCache = makeCache(db, cacheSize, true)
  const prepareUncached = (returnArrays: boolean) => (sql: string) => {
    const statement = db.prepare(sql)
    if (returnArrays) statement.setReturnArrays(true)
    return statement
  }
  const rowsUncached = prepareUncached(false)
  const valuesUncached = prepareUncached(true)

  /** Runs `f` on the prepared statement with bound parameters, on the caller's `SafeIntegers`. */
  const run = <A>(
    sql: string,
    params: ReadonlyArray<unknown>,
    prepare: (sql: string) => StatementSync,
    f: (statement: StatementSync, values: Array<SQLInputValue>) => A
  ): Effect.Effect<A, SqlError> =>
    !db.isOpen
      ? Effect.fail(internal.invalid("the SQLite database is closed: the scope of its client has ended", "execute"))
      : Effect.flatMap(bind(params), (values) =>
      Effect.withFiber((fiber) => {
        const safeIntegers = fiber.getRef(Client.SafeIntegers)
        return Effect.try({
          try: () => {
            const statement = prepare(sql)
            statement.setReadBigInts(safeIntegers)
            return f(statement, values)
          },
          catch: (cause) => internal.sqlError(cause, "execute")
        })
      }))

  const all = (statement: StatementSync, values: Array<SQLInputValue>) => statement.all(...values)
  const withTransform = (
    rows: Effect.Effect<ReadonlyArray<any>, SqlError>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) => transformRows === undefined ? rows : Effect.map(rows, transformRows)

  return {
    db,
    execute: (sql, params, transformRows) => withTransform(run(sql, params, rowsCache, all), transformRows),
    executeUnprepared: (sql, params, transformRows) =>
      withTransform(run(sql, params, rowsUncached, all), transformRows),
    executeValues: (sql, params) => run(sql, params, valuesCache, all) as any,
    executeValuesUnprepared: (sql, params) => run(sql, params, valuesUncached, all) as any,
    executeRaw: (sql, params) =>
      run(
        sql,
        params,
        rowsCache,
        (statement, values) => statement.columns().length > 0 ? statement.all(...values) : statement.run(...values)
      ),
    executeStream: (sql, params, transformRows) =>
      Stream.scoped(Stream.fromPull(
        Effect.map(
          Effect.acquireRelease(
            run(sql, params, rowsUncached, (statement, values) => ({ iterator: statement.iterate(...values), done: false })),
            (cursor) => Effect.sync(() => cursor.done || cursor.iterator.return?.())
          ),
          // Once the iterator has said it is done, it is never asked again:
          // some Node versions restart the statement on the next call.
          (cursor) =>
            Effect.suspend(() =>
              cursor.done ? Cause.done() : Effect.flatMap(
                Effect.try({
                  try: () => {
                    const rows: Array<any> = []
                    while (rows.length < STREAM_CHUNK_SIZE) {
                      const next = cursor.iterator.next()
                      if (next.done === true) {
                        cursor.done = true
                        break
                      }
                      rows.push(next.value)
                    }
                    return rows
                  },
                  catch: (cause) => internal.sqlError(cause, "stream")
                }),
                (rows) =>
                  rows.length === 0
                    ? Cause.done()
                    : Effect.succeed((transformRows ? transformRows(rows) : rows) as [any, ...Array<any>])
              )
            )
        )
      ))
  }
}

const validate = (config: SqliteClientConfig): Effect.Effect<{ cacheSize: number; busyTimeout: number }, SqlError> => {
  if (typeof config.filename !== "string") {
    return Effect.fail(internal.invalid("filename must be a string (a path, or \":memory:\")", "open"))
  }
  const cacheSize = config.prepareCacheSize ?? DEFAULT_PREPARE_CACHE_SIZE
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
    return Effect.fail(internal.invalid(`prepareCacheSize must be a non-negative integer, not ${cacheSize}`, "open"))
  }
  const timeout = config.busyTimeout === undefined ? Option.some(Duration.zero) : Duration.fromInput(config.busyTimeout)
  if (Option.isNone(timeout)) {
    return Effect.fail(internal.invalid(`busyTimeout is not a duration: ${String(config.busyTimeout)}`, "open"))
  }
  const millis = Duration.toMillis(timeout.value)
  const busyTimeout = Number.isFinite(millis) ? Math.min(Math.ceil(millis), MAX_BUSY_TIMEOUT_MILLIS) : MAX_BUSY_TIMEOUT_MILLIS
  return Effect.succeed({ cacheSize, busyTimeout })
}

/**
 * Opens the database in the current scope (closed when the scope closes) and
 * builds the client. Fails with a `SqlError` when the settings are invalid
 * or the database cannot be opened (a `ConnectionError`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: SqliteClientConfig
): Effect.Effect<SqliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const { busyTimeout, cacheSize } = yield* validate(config)
    const readonly = config.readonly === true
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new DatabaseSync(config.filename, {
            readOnly: readonly,
            timeout: busyTimeout,
            enableForeignKeyConstraints: config.foreignKeys !== false
          }),
        catch: (cause) => internal.sqlError(cause, "open")
      }),
      (db) => Effect.sync(() => db.isOpen && db.close())
    )
    if (!readonly && config.disableWAL !== true) {
      yield* Effect.try({
        try: () => db.exec("PRAGMA journal_mode = WAL"),
        catch: (cause) => internal.sqlError(cause, "open")
      })
    }
    const connection = makeConnection(db, cacheSize)
    const acquirers = Client.makeSqliteAcquirers({
      connection: Effect.succeed(connection),
      semaphore: Semaphore.makeUnsafe(1),
      isTransaction: (conn) => conn.db.isTransaction
    })
    const compiler = Statement.makeCompilerSqlite(config.transformQueryNames)
    const transformRows = config.transformResultNames
      ? Statement.defaultTransforms(config.transformResultNames).array
      : undefined
    const client = yield* Client.make({
      ...acquirers,
      compiler,
      driver,
      prepareTransactionControls: true,
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
      spanAttributes: [
        ...(config.spanAttributes ? Object.entries(config.spanAttributes) : []),
        ["db.system.name", "sqlite"]
      ],
      transformRows
    })
    return Object.assign(client, { [TypeId]: TypeId, config }) as unknown as SqliteClient
  })

/**
 * Provides `SqliteClient` and `SqlClient` (with its own `Reactivity`) from an
 * effect that makes the client.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFrom = <E, R>(
  acquire: Effect.Effect<SqliteClient, E, R>
): Layer.Layer<SqliteClient | Client.SqlClient, E, Exclude<R, Scope.Scope | Reactivity.Reactivity>> =>
  Layer.effectContext(
    Effect.map(acquire, (client) => Context.make(SqliteClient, client).pipe(Context.add(Client.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer)) as Layer.Layer<
    SqliteClient | Client.SqlClient,
    E,
    Exclude<R, Scope.Scope | Reactivity.Reactivity>
  >

/**
 * The client as a layer: the database is opened when the layer is built and
 * closed when it is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: SqliteClientConfig): Layer.Layer<SqliteClient | Client.SqlClient, SqlError> =>
  layerFrom(make(config))

/**
 * `layer`, with the settings read from `Config`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Wrap<SqliteClientConfig>
): Layer.Layer<SqliteClient | Client.SqlClient, Config.ConfigError | SqlError> =>
  layerFrom(Effect.flatMap(Config.unwrap(config), make))
