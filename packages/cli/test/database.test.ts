import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { Database, Sagas, Tree } from "../src/index.ts"

const parse = (url: string) => Effect.runSync(Effect.result(Database.parse(url)))

const ok = (url: string) => {
  const result = parse(url)
  if (result._tag === "Failure") throw new Error(`${url}: ${result.failure.message}`)
  return result.success
}

const refused = (url: string) => {
  const result = parse(url)
  if (result._tag === "Success") throw new Error(`${url}: accepted as ${JSON.stringify(result.success)}`)
  return result.failure.message
}

describe("Database.parse", () => {
  it("PostgreSQL: postgres:// and postgresql://, named without the password", () => {
    expect(ok("postgres://app:s3cret@db.internal:6432/shop")).toEqual({
      _tag: "Postgres",
      url: "postgres://app:s3cret@db.internal:6432/shop",
      display: "postgres://app@db.internal:6432/shop"
    })
    expect(ok("postgresql://app@db.internal/shop?sslmode=require").display).toBe("postgres://app@db.internal:5432/shop")
    expect(ok("POSTGRES://app@db/shop")._tag).toBe("Postgres")
    expect(refused("postgres://app:s3cret@[bad/shop")).toBe("malformed DATABASE_URL: not a valid postgres:// URL")
  })

  it("SQLite: sqlite:, file: and paths ending in .db, .sqlite, .sqlite3, resolved", () => {
    const sqlite = (filename: string) => ({ _tag: "Sqlite", filename, display: filename })
    expect(ok("sqlite:/var/lib/shop/app.db")).toEqual(sqlite("/var/lib/shop/app.db"))
    expect(ok("sqlite:///var/lib/shop/app.db")).toEqual(sqlite("/var/lib/shop/app.db"))
    expect(ok("sqlite:data/app")).toEqual(sqlite(Path.resolve("data/app")))
    expect(ok("file:///var/lib/shop/app.db")).toEqual(sqlite("/var/lib/shop/app.db"))
    expect(ok("file:/var/lib/shop/app.db")).toEqual(sqlite("/var/lib/shop/app.db"))
    expect(ok("/var/lib/shop/app.db")).toEqual(sqlite("/var/lib/shop/app.db"))
    expect(ok("app.sqlite")).toEqual(sqlite(Path.resolve("app.sqlite")))
    expect(ok("./app.SQLITE3")).toEqual(sqlite(Path.resolve("app.SQLITE3")))
    expect(refused("sqlite::memory:")).toBe("DATABASE_URL names no SQLite file")
    expect(refused("sqlite:")).toBe("DATABASE_URL names no SQLite file")
  })

  it("anything else: the scheme named, never the rest", () => {
    const expected = "postgres://…, postgresql://…, sqlite:/path/app.db, file:/path/app.db or a path ending in .db or .sqlite"
    expect(refused("mysql://root:s3cret@db/shop")).toBe(`unsupported DATABASE_URL scheme "mysql:": expected ${expected}`)
    expect(refused("https://example.com/app.db")).toBe(`unsupported DATABASE_URL scheme "https:": expected ${expected}`)
    expect(refused("app.json")).toBe(`DATABASE_URL names no database herald knows: expected ${expected}`)
  })

  it("table names and prefixes: an identifier or schema.name", () => {
    expect(Effect.runSync(Database.tableName("table", "audit.herald_outbox"))).toBe("audit.herald_outbox")
    expect(Effect.runSync(Effect.flip(Database.tableName("prefix", "a-b"))).message).toBe(
      `malformed prefix "a-b": expected an identifier or schema.name`
    )
  })
})

describe("command input", () => {
  it("a correlation id: 1 to 128 printable ASCII characters without whitespace", () => {
    expect(Effect.runSync(Tree.correlationId("order-1"))).toBe("order-1")
    expect(Effect.runSync(Effect.flip(Tree.correlationId(""))).message).toBe(`malformed correlation id "": empty`)
    expect(Effect.runSync(Effect.flip(Tree.correlationId("x".repeat(129)))).message).toBe(
      `malformed correlation id "${"x".repeat(64)}…": too long (129 characters, at most 128)`
    )
  })

  it("a saga status", () => {
    expect(Effect.runSync(Sagas.status("compensation-failed"))).toBe("compensation-failed")
    expect(Effect.runSync(Effect.flip(Sagas.status("done"))).message).toBe(
      `unknown saga status "done": expected one of running, completed, compensating, compensated, compensation-failed`
    )
  })
})
