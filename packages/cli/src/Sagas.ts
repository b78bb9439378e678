/**
 * `herald saga list` and `herald saga show`: saga instances read through
 * `@herald/saga`'s `SagaQuery` over the SQL store (`SagaSql`), the state as
 * stored (the JSON its Schema encoded).
 *
 * @since 0.1.0
 */
import { Outbox, OutboxSql } from "@herald/outbox"
import { SagaQuery, SagaSql, SagaStore } from "@herald/saga"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as SqlClient from "effect/sql/SqlClient"
import * as CommandError from "./CommandError.ts"
import * as Database from "./Database.ts"
import * as Format from "./Format.ts"

/**
 * The default prefix of the saga tables.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix = "herald_saga"

/**
 * One instance of `herald saga list`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InstanceReport {
  readonly saga: string
  /** The instance id: the value the saga correlates its messages by. */
  readonly id: string
  readonly status: SagaStore.Status
  readonly version: number
  /** ISO-8601. */
  readonly createdAt: string
  /** ISO-8601. */
  readonly updatedAt: string
  readonly failure: string | null
  /** As stored: the JSON the saga's Schema encoded. */
  readonly state: unknown
}

/**
 * One transition of `herald saga show`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransitionReport {
  /** The version it produced. */
  readonly version: number
  /** ISO-8601. */
  readonly at: string
  readonly trigger: {
    readonly messageId: string
    readonly type: string
    readonly subject: string
    readonly stream: string | null
    readonly streamSequence: number | null
  }
  /** The status after it. */
  readonly status: SagaStore.Status
  readonly sent: ReadonlyArray<{ readonly messageId: string; readonly type: string; readonly subject: string }>
  readonly scheduled: ReadonlyArray<{ readonly name: string; readonly token: string; readonly dueAt: string }>
  readonly cancelled: ReadonlyArray<string>
}

/**
 * One instance of `herald saga show`: its state, its transitions and its
 * pending timeouts.
 *
 * @since 0.1.0
 * @category models
 */
export interface InstanceDetail extends InstanceReport {
  readonly history: ReadonlyArray<TransitionReport>
  readonly timeouts: ReadonlyArray<{
    readonly name: string
    readonly token: string
    /** ISO-8601. */
    readonly dueAt: string
    readonly type: string | null
  }>
}

const iso = (millis: number): string => new Date(millis).toISOString()

/**
 * A status given on the command line.
 *
 * @since 0.1.0
 * @category parsing
 */
export const status = (text: string): Effect.Effect<SagaStore.Status, CommandError.CommandError> =>
  (SagaStore.statuses as ReadonlyArray<string>).includes(text)
    ? Effect.succeed(text as SagaStore.Status)
    : Effect.fail(CommandError.invalid(
      `unknown saga status ${JSON.stringify(text)}: expected one of ${SagaStore.statuses.join(", ")}`
    ))

const tablesOf = (prefix: string) => [`${prefix}_instances`, `${prefix}_transitions`, `${prefix}_timeouts`]

/**
 * The saga store on the database, reading only: no migrations run, and the
 * outbox it writes through (for commits) is never used.
 */
const store = (prefix: string) =>
  SagaSql.layer({ prefix, migrate: false }).pipe(
    Layer.provide(Outbox.layer),
    Layer.provide(OutboxSql.layer({ notify: false, listen: false }))
  )

const withStore = <A, E, R>(prefix: string, effect: Effect.Effect<A, E, R>) =>
  Database.requireTables(tablesOf(prefix), "the saga store (@herald/saga)").pipe(
    Effect.andThen(effect),
    Effect.provide(store(prefix)),
    Effect.mapError(Database.failed("cannot read the sagas"))
  )

const report = (instance: SagaStore.Instance): InstanceReport => ({
  saga: instance.saga,
  id: instance.id,
  status: instance.status,
  version: instance.version,
  createdAt: iso(instance.createdAt),
  updatedAt: iso(instance.updatedAt),
  failure: instance.failure ?? null,
  state: instance.state
})

/**
 * Instances, least recently updated first: of one saga or of all, of one
 * status or of all, at most `limit` (default 100).
 *
 * @since 0.1.0
 * @category queries
 */
export const list = (options: {
  readonly saga?: string | undefined
  readonly status?: SagaStore.Status | undefined
  readonly limit?: number | undefined
  readonly prefix?: string | undefined
}): Effect.Effect<ReadonlyArray<InstanceReport>, CommandError.CommandError, SqlClient.SqlClient | Database.Database> =>
  withStore(
    options.prefix ?? defaultPrefix,
    (options.saga === undefined
      ? SagaStore.SagaStore.use((s) => s.list({ status: options.status, limit: options.limit }))
      : SagaQuery.list(options.saga, { status: options.status, limit: options.limit })).pipe(
        Effect.map((instances) => instances.map(report))
      )
  )

/**
 * One instance with its history and pending timeouts. Fails with
 * `NotFound` when the saga has no instance of that id (saying so when it
 * has no instances at all).
 *
 * @since 0.1.0
 * @category queries
 */
export const show = (
  saga: string,
  id: string,
  options?: { readonly prefix?: string | undefined }
): Effect.Effect<InstanceDetail, CommandError.CommandError, SqlClient.SqlClient | Database.Database> =>
  withStore(
    options?.prefix ?? defaultPrefix,
    Effect.gen(function*() {
      const view = yield* SagaQuery.getByName(saga, id)
      if (Option.isNone(view)) {
        const any = yield* SagaQuery.list(saga, { limit: 1 })
        return yield* Effect.fail(CommandError.notFound(
          any.length === 0 ? `no saga named ${saga}: no instances of it are stored` : `saga ${saga} has no instance ${id}`
        ))
      }
      const history = yield* SagaQuery.history(saga, id)
      const v = view.value
      return {
        ...report({ ...v, failure: v.failure }),
        history: history.map((h): TransitionReport => ({
          version: h.version,
          at: iso(h.at),
          trigger: {
            messageId: h.trigger.messageId,
            type: h.trigger.type,
            subject: h.trigger.subject,
            stream: h.trigger.stream ?? null,
            streamSequence: h.trigger.streamSequence ?? null
          },
          status: h.status,
          sent: h.outgoing,
          scheduled: h.scheduled.map((t) => ({ name: t.name, token: t.token, dueAt: iso(t.dueAt) })),
          cancelled: h.cancelled
        })),
        timeouts: v.timeouts.map((t) => ({ name: t.name, token: t.token, dueAt: iso(t.dueAt), type: t.type ?? null }))
      } satisfies InstanceDetail
    })
  )

/**
 * The instances as a table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const listTable = (instances: ReadonlyArray<InstanceReport>): string =>
  Format.table(
    ["Saga", "Id", "Status", "Version", "Updated"],
    instances.map((i) => [i.saga, i.id, i.status, String(i.version), Format.time(Date.parse(i.updatedAt))]),
    ["left", "left", "left", "right", "left"]
  )

/**
 * One instance for people: its fields, its state as indented JSON, its
 * history and its pending timeouts.
 *
 * @since 0.1.0
 * @category formatting
 */
export const detailText = (detail: InstanceDetail): string => {
  const fields: Array<[string, string]> = [
    ["Saga", detail.saga],
    ["Id", detail.id],
    ["Status", detail.status],
    ["Version", String(detail.version)],
    ["Created", Format.time(Date.parse(detail.createdAt))],
    ["Updated", Format.time(Date.parse(detail.updatedAt))]
  ]
  if (detail.failure !== null) fields.push(["Failure", detail.failure])
  const width = Math.max(...fields.map(([name]) => name.length))
  const list = (items: ReadonlyArray<string>) => items.length === 0 ? "-" : items.join(", ")
  return [
    ...fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`),
    "",
    "State",
    JSON.stringify(detail.state, null, 2),
    "",
    "History",
    Format.table(
      ["Version", "At", "Trigger", "Status", "Sent", "Scheduled", "Cancelled"],
      detail.history.map((h) => [
        String(h.version),
        Format.time(Date.parse(h.at)),
        h.trigger.type,
        h.status,
        list(h.sent.map((s) => s.type)),
        list(h.scheduled.map((t) => t.name)),
        list(h.cancelled)
      ]),
      ["right", "left", "left", "left", "left", "left", "left"]
    ),
    "",
    "Pending timeouts",
    Format.table(
      ["Name", "Due", "Delivers"],
      detail.timeouts.map((t) => [t.name, Format.time(Date.parse(t.dueAt)), t.type ?? "-"])
    )
  ].join("\n")
}
