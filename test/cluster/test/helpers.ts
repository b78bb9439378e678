/**
 * What the cluster fault tests share: numbered envelopes, a counter table
 * that counts how often a handler's database effect was applied per message,
 * unique names, transports on the cluster, the client's moves between nodes,
 * and a report line.
 */
import { Fixtures, NatsCluster } from "@herald/testing"
import { type EventLog, Wire } from "@herald/transport"
import { type NatsConnection, NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"

/** Envelope number `n`: message id `Fixtures.id(n)`, payload `{ n }`. */
export const envelope = (n: number) => Fixtures.envelope({ identity: n, payload: { n } })

export const range = (from: number, to: number): ReadonlyArray<number> =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i)

let counter = 0
/** Names no other test of this process uses. */
export const unique = (prefix: string) => {
  const id = `${++counter}${Math.random().toString(36).slice(2, 7)}`
  return {
    stream: `${prefix}${id}`.toUpperCase(),
    subject: `${prefix}${id}`,
    consumer: `c${id}`,
    table: `${prefix}_outbox_${id}`,
    inbox: `${prefix}_inbox_${id}`,
    counter: `${prefix}_applied_${id}`
  }
}

/** Creates a counter table: one row per message id, `n` = times applied. */
export const createCounter = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE ${sql(table)} (message_id TEXT PRIMARY KEY, n INTEGER NOT NULL)`)

/** The handler's database effect: counts one application of the message. */
export const bump = (table: string, messageId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO ${sql(table)} (message_id, n) VALUES (${messageId}, 1)
        ON CONFLICT (message_id) DO UPDATE SET n = ${sql(table)}.n + 1`)

/** How the effects were applied: distinct messages, total applications, messages applied more than once. */
export const applied = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly rows: number; readonly total: number | null; readonly twice: number }>`
        SELECT count(*)::int AS rows, sum(n)::int AS total, count(*) FILTER (WHERE n > 1)::int AS twice
        FROM ${sql(table)}`,
      (rows) => ({ distinct: rows[0]!.rows, total: rows[0]!.total ?? 0, twice: rows[0]!.twice })
    ))

/** The ids of every message of a stream, in sequence order (`Nats-Msg-Id`). */
export const storedIds = (log: EventLog.EventLog["Service"], stream: string) =>
  Stream.runCollect(log.readRaw(stream)).pipe(
    Effect.map((messages) => messages.map((m) => Wire.header(m.raw, Wire.HeaderNames.natsMsgId)))
  )

/** A NATS transport on the cluster, first connected to `servers` (by default every node). */
export const transportOn = (cluster: NatsCluster.NatsCluster["Service"], name: string, servers?: ReadonlyArray<string>) =>
  NatsTransport.layer({
    servers: servers ?? cluster.urls,
    name,
    reconnectTimeWait: "250 millis",
    connectTimeout: "10 seconds"
  })

/** The node a connection is on now (by its client port), `undefined` while disconnected. */
export const nodeOf = (
  cluster: NatsCluster.NatsCluster["Service"],
  connection: NatsConnection.NatsConnection["Service"]
): number | undefined => {
  if (connection.client.isClosed()) return undefined
  const port = connection.client.info?.port
  return cluster.nodes.find((node) => node.port === port)?.index
}

/**
 * Records the moves of a connection: every `Reconnected` with the node it
 * reconnected to, every `Disconnected`.
 */
export const recordMoves = (
  cluster: NatsCluster.NatsCluster["Service"],
  connection: NatsConnection.NatsConnection["Service"]
) =>
  Effect.gen(function*() {
    const moves: Array<{ readonly event: "disconnected" | "reconnected"; readonly node: number | undefined }> = []
    const portOf = (server: string) => Number(/:(\d+)$/.exec(server)?.[1] ?? "0")
    const nodeByServer = (server: string) => cluster.nodes.find((node) => node.port === portOf(server))?.index
    yield* Effect.forkScoped(Stream.runForEach(connection.events, (event) =>
      Effect.sync(() => {
        if (event._tag === "Disconnected") moves.push({ event: "disconnected", node: nodeByServer(event.server) })
        if (event._tag === "Reconnected") moves.push({ event: "reconnected", node: nodeByServer(event.server) })
      })))
    return moves
  })

/** A line of the run's counts in the test output. */
export const report = (label: string, line: string) => Effect.sync(() => console.log(`[${label}] ${line}`))


