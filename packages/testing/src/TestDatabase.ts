/**
 * A fresh PostgreSQL database for a test suite: created on a server (by
 * default the local one on 127.0.0.1:5432 as `postgres`), given to the suite
 * as `PgClient` + `SqlClient`, and dropped when the scope closes.
 *
 * ```ts
 * layer(TestDatabase.layerPg())("outbox on PostgreSQL", (it) => { ... })
 * ```
 *
 * Configure the server with `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` or
 * the options. A server that cannot be reached fails with a `SqlError` that
 * says where it looked.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/**
 * Where the server is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly username?: string | undefined
  readonly password?: string | undefined
  /** The database to connect to for `CREATE DATABASE` (default `postgres`). */
  readonly adminDatabase?: string | undefined
  /** A prefix for the database name (default `herald_test`). */
  readonly prefix?: string | undefined
  /** Pool size of the suite's client (default 10). */
  readonly maxConnections?: number | undefined
}

const env = (name: string): string | undefined => {
  const v = process.env[name]
  return v === undefined || v === "" ? undefined : v
}

const connection = (options: Options | undefined, database: string) => {
  const password = options?.password ?? env("PGPASSWORD")
  return {
    host: options?.host ?? env("PGHOST") ?? "127.0.0.1",
    port: options?.port ?? Number(env("PGPORT") ?? 5432),
    username: options?.username ?? env("PGUSER") ?? "postgres",
    database,
    ...(password === undefined ? {} : { password: Redacted.make(password) })
  }
}

/**
 * The name given to a suite's database: the prefix, the process id and a
 * random suffix, so that parallel suites never share one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const databaseName = (prefix = "herald_test"): string =>
  `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`.toLowerCase()

const admin = <A>(
  options: Options | undefined,
  f: (sql: PgClient.PgClient) => Effect.Effect<A, SqlError>
): Effect.Effect<A, SqlError> =>
  Effect.scoped(
    Effect.flatMap(
      PgClient.make({ ...connection(options, options?.adminDatabase ?? "postgres"), maxConnections: 1 }),
      f
    )
  ).pipe(Effect.provide(Reactivity.layer))

/**
 * Creates a database, provides a client on it, drops it (with its
 * connections) when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = (options?: Options): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const name = databaseName(options?.prefix)
      yield* Effect.acquireRelease(
        admin(options, (sql) => sql.unsafe(`CREATE DATABASE "${name}"`)),
        () => Effect.ignore(admin(options, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
      )
      return PgClient.layer({
        ...connection(options, name),
        maxConnections: options?.maxConnections ?? 10,
        applicationName: "herald-test"
      })
    })
  )
