/**
 * The SQL `OutboxStore` over `effect/sql`'s `SqlClient`: PostgreSQL and
 * SQLite, picked with `sql.onDialectOrElse`.
 *
 * @since 0.1.0
 * @internal
 */
import type { Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as OutboxError from "../OutboxError.ts"
import type * as OutboxStore from "../OutboxStore.ts"
import * as Headers from "./headers.ts"
import * as Signal from "./signal.ts"

export type Dialect = "pg" | "sqlite"

export interface Resolved {
  readonly table: string
  readonly channel: string
  readonly notify: boolean
  readonly listen: boolean
}

interface ClaimedRow {
  readonly id: number | bigint
  readonly message_id: string
  readonly subject: string
  readonly headers: string
  readonly body: Uint8Array
  readonly partition_key: string | null
  readonly attempts: number | bigint
  readonly created_at: number | bigint
}

interface StatusRow {
  readonly pending: number | bigint | string | null
  readonly leased: number | bigint | string | null
  readonly retrying: number | bigint | string | null
  readonly parked: number | bigint | string | null
  readonly sent: number | bigint | string | null
  readonly oldest: number | bigint | string | null
  readonly max_attempts: number | bigint | string | null
}

interface FailedRow {
  readonly message_id: string
  readonly subject: string
  readonly partition_key: string | null
  readonly state: string
  readonly attempts: number | bigint
  readonly last_error: string
  readonly last_attempt_at: number | bigint | null
  readonly available_at: number | bigint
  readonly created_at: number | bigint
}

interface Listener {
  readonly listen: (channel: string) => Effect.Effect<Queue.Dequeue<unknown, SqlError>, SqlError, Scope.Scope>
}

/** `@effect/sql-pg`'s `PgClient` is the `SqlClient` itself, with `listen`: found by shape, no import needed. */
const hasListen = (u: unknown): u is Listener => Predicate.hasProperty(u, "listen") && typeof u.listen === "function"

const num = (u: number | bigint | string | null | undefined): number => (u === null || u === undefined ? 0 : Number(u))

// A corrupt row decodes to `{}`: the relay parks it (its `Nats-Msg-Id` is
// missing) instead of publishing it.
const toClaimed = (row: ClaimedRow): OutboxStore.ClaimedMessage => {
  const raw: Wire.RawMessage = { headers: Headers.decode(row.headers), body: row.body }
  return {
    id: Number(row.id),
    messageId: row.message_id,
    subject: row.subject,
    raw,
    partitionKey: row.partition_key ?? undefined,
    attempts: Number(row.attempts),
    createdAt: Number(row.created_at)
  }
}

const byId = (a: { readonly id: number }, b: { readonly id: number }) => a.id - b.id

const toFailed = (row: FailedRow): OutboxStore.FailedMessage => ({
  messageId: row.message_id,
  subject: row.subject,
  partitionKey: row.partition_key ?? undefined,
  state: row.state === "failed" ? "failed" : row.state === "sent" ? "sent" : "pending",
  attempts: Number(row.attempts),
  lastError: row.last_error,
  lastAttemptAt: row.last_attempt_at === null ? undefined : Number(row.last_attempt_at),
  availableAt: Number(row.available_at),
  createdAt: Number(row.created_at)
})

/** Builds the store over the `SqlClient` of the context. */
export const make = (
  resolved: Resolved
): Effect.Effect<OutboxStore.OutboxStore["Service"], OutboxError.OutboxError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const dialect = sql.onDialectOrElse({
      pg: (): Dialect | undefined => "pg",
      sqlite: (): Dialect | undefined => "sqlite",
      orElse: (): Dialect | undefined => undefined
    })
    if (dialect === undefined) {
      return yield* Effect.fail(
        OutboxError.invalidConfig("the outbox supports PostgreSQL and SQLite (SqlClient dialect pg or sqlite)")
      )
    }
    const t = sql(resolved.table)
    const signal = Signal.make()
    const wake = Effect.sync(signal.fire)
    const describe = `sql:${dialect}:${resolved.table}`

    // PostgreSQL: one array parameter, so the statement text never changes; SQLite: a list.
    const idsIn = (ids: ReadonlyArray<number>) =>
      dialect === "pg" ? sql`= ANY(${ids}::bigint[])` : sql`IN ${sql.in(ids)}`

    const selectColumns = sql.literal("id, message_id, subject, headers, body, partition_key, attempts, created_at")

    // Aliases and CTE names start with `__ob_`, which table names may not
    // (`OutboxSql` refuses them), so they never collide with the table.
    //
    // A claim takes, in id order, the first `limit` pending, due, unleased
    // messages whose key is not blocked. A key is blocked while one of its
    // unsent messages cannot be claimed: leased (in flight), waiting out a
    // backoff, or parked. So a key's claimed messages are always the oldest
    // unsent ones, in order, and a key in flight is never claimed twice.
    // The blocked keys come from a small partial index (rows leased or failed
    // once), so a claim costs the rows it looks at, not the backlog; rows of
    // blocked keys are passed over in the scan.
    const blockedKeys = (now: number) =>
      sql`SELECT DISTINCT __ob_b.partition_key FROM ${t} __ob_b
    WHERE __ob_b.state <> 'sent' AND __ob_b.partition_key IS NOT NULL
      AND (__ob_b.lease_until IS NOT NULL OR __ob_b.available_at > 0 OR __ob_b.state = 'failed')
      AND (__ob_b.state = 'failed' OR __ob_b.available_at > ${now} OR __ob_b.lease_until > ${now})`

    const candidatesWhere = (now: number) =>
      sql`__ob_s.state = 'pending' AND __ob_s.available_at <= ${now}
      AND (__ob_s.lease_until IS NULL OR __ob_s.lease_until <= ${now})
      AND (__ob_s.partition_key IS NULL OR __ob_s.partition_key NOT IN (SELECT partition_key FROM __ob_blocked))`

    const insertPlain = (rows: ReadonlyArray<Record<string, unknown>>) =>
      sql`INSERT INTO ${t} ${sql.insert(rows as [Record<string, unknown>, ...Array<Record<string, unknown>>])}`

    const insertStatement: (rows: ReadonlyArray<Record<string, unknown>>) => Statement.Statement<any> =
      dialect === "pg" && resolved.notify
        // One round trip: the insert and the NOTIFY (delivered at commit, never on rollback).
        ? (rows) =>
          sql`WITH __ob_i AS (INSERT INTO ${t} ${
            sql.insert(rows as [Record<string, unknown>, ...Array<Record<string, unknown>>])
          } RETURNING 1) SELECT pg_notify(${resolved.channel}, '') AS n`
        : insertPlain

    const insert = Effect.fn("OutboxSql.insert")(function*(messages: ReadonlyArray<OutboxStore.NewMessage>) {
      if (messages.length === 0) return
      const rows = messages.map((m) => ({
        message_id: m.messageId,
        subject: m.subject,
        headers: Headers.encode(m.raw.headers),
        body: m.raw.body,
        partition_key: m.partitionKey ?? null,
        state: "pending",
        attempts: 0,
        created_at: m.createdAt,
        available_at: 0
      }))
      yield* Effect.mapError(insertStatement(rows), OutboxError.storage("insert"))
      // Wakes the relays of this process when (and only if) the caller's transaction commits.
      yield* client.afterCommit(wake)
    })

    // PostgreSQL, one statement. Candidates are locked as they are scanned
    // (FOR UPDATE SKIP LOCKED: rows locked by a concurrent claim are skipped
    // and do not count against the limit; the lease is re-checked on the
    // latest row version). A message whose key has an earlier unsent message
    // that this claim did not get (locked by a concurrent claim, or not yet
    // visible in the snapshot of that claim) must not go out: `prev_id`, the
    // key's previous unsent message, lets `claim` cut each key's run there.
    const claimPg = (r: OutboxStore.ClaimRequest) =>
      sql<ClaimedRow & { readonly prev_id: number | null }>`WITH __ob_blocked AS (
  ${blockedKeys(r.now)}
), __ob_locked AS (
  SELECT __ob_s.id, __ob_s.partition_key FROM ${t} __ob_s
  WHERE ${candidatesWhere(r.now)}
  ORDER BY __ob_s.id
  LIMIT ${r.limit}
  FOR UPDATE SKIP LOCKED
), __ob_claimed AS (
  SELECT __ob_l.id,
    CASE WHEN __ob_l.partition_key IS NULL THEN NULL ELSE (
      SELECT max(__ob_p.id) FROM ${t} __ob_p
      WHERE __ob_p.partition_key = __ob_l.partition_key AND __ob_p.id < __ob_l.id AND __ob_p.state <> 'sent'
    ) END AS prev_id
  FROM __ob_locked __ob_l
)
UPDATE ${t} AS __ob_t SET lease_owner = ${r.owner}, lease_until = ${r.now + r.leaseMillis}
FROM __ob_claimed __ob_c
WHERE __ob_t.id = __ob_c.id
RETURNING __ob_t.id::float8 AS id, __ob_t.message_id, __ob_t.subject, __ob_t.headers, __ob_t.body,
  __ob_t.partition_key, __ob_t.attempts, __ob_t.created_at::float8 AS created_at, __ob_c.prev_id::float8 AS prev_id`.pipe(
        Effect.flatMap((rows) => {
          // Keep a message only when the one before it (of its key) was claimed here too.
          const claimed = rows.map((row) => ({ id: Number(row.id), prev: row.prev_id === null ? -1 : Number(row.prev_id), row }))
            .sort(byId)
          const kept = new Set<number>()
          const trimmed: Array<number> = []
          const result: Array<OutboxStore.ClaimedMessage> = []
          for (const c of claimed) {
            if (c.prev === -1 || kept.has(c.prev)) {
              kept.add(c.id)
              result.push(toClaimed(c.row))
            } else trimmed.push(c.id)
          }
          if (trimmed.length === 0) return Effect.succeed(result)
          return Effect.as(
            sql`UPDATE ${t} SET lease_owner = NULL, lease_until = NULL
              WHERE id ${idsIn(trimmed)} AND lease_owner = ${r.owner} AND state = 'pending'`,
            result
          )
        })
      )

    // SQLite has one writer: the claim is one statement, atomic.
    const claimSqlite = (r: OutboxStore.ClaimRequest) =>
      sql<ClaimedRow>`WITH __ob_blocked AS (
  ${blockedKeys(r.now)}
), __ob_candidates AS (
  SELECT __ob_s.id FROM ${t} __ob_s
  WHERE ${candidatesWhere(r.now)}
  ORDER BY __ob_s.id
  LIMIT ${r.limit}
)
UPDATE ${t} SET lease_owner = ${r.owner}, lease_until = ${r.now + r.leaseMillis}
WHERE id IN (SELECT id FROM __ob_candidates)
RETURNING ${selectColumns}`

    const claim = Effect.fn("OutboxSql.claim")(function*(r: OutboxStore.ClaimRequest) {
      return yield* Effect.mapError(
        dialect === "pg" ? claimPg(r) : Effect.map(claimSqlite(r), (rows) => rows.map(toClaimed).sort(byId)),
        OutboxError.storage("claim")
      )
    })

    const markSent = Effect.fn("OutboxSql.markSent")(function*(ids: ReadonlyArray<number>, now: number) {
      if (ids.length === 0) return
      yield* Effect.mapError(
        sql`UPDATE ${t} SET state = 'sent', sent_at = ${now}, last_attempt_at = ${now}, attempts = attempts + 1,
          lease_owner = NULL, lease_until = NULL
          WHERE id ${idsIn(ids)} AND state = 'pending'`,
        OutboxError.storage("markSent")
      )
    })

    const markFailed = Effect.fn("OutboxSql.markFailed")(
      function*(failures: ReadonlyArray<OutboxStore.Failure>, now: number) {
        // Failures of one batch mostly share their error and backoff: one statement per group.
        const groups = new Map<string, { readonly failure: OutboxStore.Failure; readonly ids: Array<number> }>()
        for (const f of failures) {
          const key = `${f.park}\u0000${f.availableAt}\u0000${f.error}`
          const group = groups.get(key)
          if (group === undefined) groups.set(key, { failure: f, ids: [f.id] })
          else group.ids.push(f.id)
        }
        for (const { failure, ids } of groups.values()) {
          yield* Effect.mapError(
            sql`UPDATE ${t} SET state = ${failure.park ? "failed" : "pending"}, attempts = attempts + 1,
              last_error = ${failure.error}, last_attempt_at = ${now}, available_at = ${failure.availableAt},
              lease_owner = NULL, lease_until = NULL
              WHERE id IN ${sql.in(ids)} AND state = 'pending'`,
            OutboxError.storage("markFailed")
          )
        }
      }
    )

    const release = Effect.fn("OutboxSql.release")(function*(ids: ReadonlyArray<number>, owner: string) {
      if (ids.length === 0) return
      yield* Effect.mapError(
        sql`UPDATE ${t} SET lease_owner = NULL, lease_until = NULL
          WHERE id IN ${sql.in(ids)} AND lease_owner = ${owner} AND state = 'pending'`,
        OutboxError.storage("release")
      )
    })

    const releaseOwner = Effect.fn("OutboxSql.releaseOwner")(function*(owner: string) {
      const rows = yield* Effect.mapError(
        sql<{ readonly id: number | bigint }>`UPDATE ${t} SET lease_owner = NULL, lease_until = NULL
          WHERE lease_owner = ${owner} AND state = 'pending' RETURNING id`,
        OutboxError.storage("releaseOwner")
      )
      return rows.length
    })

    const deleteSent = Effect.fn("OutboxSql.deleteSent")(function*(before: number, limit: number) {
      const rows = yield* Effect.mapError(
        sql<{ readonly id: number | bigint }>`DELETE FROM ${t} WHERE id IN (
          SELECT id FROM ${t} WHERE state = 'sent' AND sent_at < ${before} LIMIT ${limit}) RETURNING id`,
        OutboxError.storage("deleteSent")
      )
      return rows.length
    })

    const failures = Effect.fn("OutboxSql.failures")(function*(limit: number) {
      const rows = yield* Effect.mapError(
        sql<FailedRow>`SELECT message_id, subject, partition_key, state, attempts, last_error, last_attempt_at,
            available_at, created_at
          FROM ${t} WHERE state <> 'sent' AND last_error IS NOT NULL
          ORDER BY last_attempt_at DESC, id DESC LIMIT ${limit}`,
        OutboxError.storage("failures")
      )
      return rows.map(toFailed)
    })

    const status = Effect.fn("OutboxSql.status")(function*(now: number) {
      const [row] = yield* Effect.mapError(
        sql<StatusRow>`SELECT
            SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending,
            SUM(CASE WHEN state = 'pending' AND lease_until IS NOT NULL AND lease_until > ${now} THEN 1 ELSE 0 END) AS leased,
            SUM(CASE WHEN state = 'pending' AND attempts > 0 THEN 1 ELSE 0 END) AS retrying,
            SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS parked,
            SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END) AS sent,
            MIN(CASE WHEN state = 'pending' THEN created_at END) AS oldest,
            MAX(CASE WHEN state <> 'sent' THEN attempts END) AS max_attempts
          FROM ${t}`,
        OutboxError.storage("status")
      )
      const last = yield* failures(1)
      const oldest = row === undefined || row.oldest === null ? undefined : Number(row.oldest)
      return {
        pending: num(row?.pending),
        leased: num(row?.leased),
        retrying: num(row?.retrying),
        parked: num(row?.parked),
        sent: num(row?.sent),
        oldestPendingAt: oldest,
        oldestPendingAgeMillis: oldest === undefined ? 0 : Math.max(0, now - oldest),
        maxAttempts: num(row?.max_attempts),
        lastError: last[0]
      } satisfies OutboxStore.Status
    })

    const requeue = Effect.fn("OutboxSql.requeue")(function*(now: number, messageIds?: ReadonlyArray<string>) {
      if (messageIds !== undefined && messageIds.length === 0) return 0
      const which = messageIds === undefined ? sql`` : sql`AND message_id IN ${sql.in(messageIds)}`
      const rows = yield* Effect.mapError(
        sql<{ readonly id: number | bigint }>`UPDATE ${t} SET state = 'pending', available_at = ${now},
          lease_owner = NULL, lease_until = NULL
          WHERE state = 'failed' ${which} RETURNING id`,
        OutboxError.storage("requeue")
      )
      if (rows.length > 0) yield* client.afterCommit(wake)
      return rows.length
    })

    const notifications: Stream.Stream<void, OutboxError.OutboxError> = dialect === "pg" && resolved.listen &&
        hasListen(client)
      ? Stream.unwrap(
        Effect.map(
          Effect.mapError(client.listen(resolved.channel), OutboxError.storage("listen")),
          (queue) => Stream.fromQueue(queue).pipe(Stream.mapError(OutboxError.storage("listen")), Stream.as(undefined))
        )
      )
      : Stream.never

    return {
      describe,
      insert,
      claim,
      markSent,
      markFailed,
      release,
      releaseOwner,
      deleteSent,
      status,
      failures,
      requeue,
      wakeups: Stream.merge(signal.stream, notifications)
    }
  })
