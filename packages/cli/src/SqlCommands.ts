/**
 * The commands that read Herald's SQL tables: `tree`, `saga list|show`,
 * `outbox status`. Each connects to the database named by `DATABASE_URL`
 * (see `Database`) and prints a table or tree, or JSON with `--json`.
 *
 * @since 0.1.0
 */
import type { EventLog } from "@herald/transport"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Database from "./Database.ts"
import * as Input from "./Input.ts"
import * as OutboxStatus from "./OutboxStatus.ts"
import * as Sagas from "./Sagas.ts"
import * as Tree from "./Tree.ts"

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Print JSON for scripts instead of a table"))

const print = <A>(asJson: boolean, value: A, text: (value: A) => string) =>
  Console.log(asJson ? JSON.stringify(value, null, 2) : text(value))

const tableFlag = (what: string, fallback: string) =>
  Flag.String("table").pipe(Flag.withDefault(fallback), Flag.withDescription(`The ${what} table (default ${fallback})`))

/**
 * `herald tree CORRELATION_ID [--table T] [--bodies] [--json]`; `--bodies`
 * reads the messages from their streams over `connection`.
 *
 * @since 0.1.0
 * @category commands
 */
export const tree = <E>(connection: Layer.Layer<EventLog.EventLog, E>) =>
  Command.make("tree", {
    json,
    table: tableFlag("correlation index", Tree.defaultTable),
    bodies: Flag.Boolean("bodies").pipe(
      Flag.withDefault(false),
      Flag.withDescription("Read each message's body from its stream (NATS_URL)")
    ),
    correlationId: Argument.String("correlation-id").pipe(Argument.withDescription("The flow's correlation id"))
  }, (config) =>
    Effect.gen(function*() {
      const id = yield* Tree.correlationId(config.correlationId)
      const table = yield* Database.tableName("table", config.table)
      const loaded = yield* (config.bodies
        ? Tree.loadWithBodies(id, { table }).pipe(Effect.provide(Layer.merge(Database.layer, connection)))
        : Tree.load(id, { table }).pipe(Effect.provide(Database.layer)))
      yield* print(config.json, loaded.tree, () => loaded.text)
    })).pipe(
      Command.withDescription("The causation tree of one flow, from the correlation index (DATABASE_URL)")
    )

const prefix = Flag.String("prefix").pipe(
  Flag.withDefault(Sagas.defaultPrefix),
  Flag.withDescription(`The saga tables' prefix (default ${Sagas.defaultPrefix})`)
)

const sagaList = Command.make("list", {
  json,
  prefix,
  saga: Flag.String("saga").pipe(Flag.optional, Flag.withDescription("Only the instances of this saga")),
  status: Flag.String("status").pipe(
    Flag.optional,
    Flag.withDescription("Only instances in this status: running, completed, compensating, compensated, compensation-failed")
  ),
  limit: Flag.Int("limit").pipe(Flag.optional, Flag.withDescription("At most this many (default 100)"))
}, (config) =>
  Effect.gen(function*() {
    const status = Option.isNone(config.status) ? undefined : yield* Sagas.status(config.status.value)
    const limit = Option.isNone(config.limit) ? undefined : yield* Input.limit(config.limit.value)
    const table = yield* Database.tableName("prefix", config.prefix)
    const instances = yield* Sagas.list({ saga: Option.getOrUndefined(config.saga), status, limit, prefix: table }).pipe(
      Effect.provide(Database.layer)
    )
    yield* print(config.json, instances, Sagas.listTable)
  })).pipe(
    Command.withDescription("Saga instances, least recently updated first: saga, id, status, version, last update")
  )

const sagaShow = Command.make("show", {
  json,
  prefix,
  saga: Argument.String("saga").pipe(Argument.withDescription("The saga's name")),
  id: Argument.String("id").pipe(Argument.withDescription("The instance id"))
}, (config) =>
  Effect.gen(function*() {
    const table = yield* Database.tableName("prefix", config.prefix)
    const detail = yield* Sagas.show(config.saga, config.id, { prefix: table }).pipe(Effect.provide(Database.layer))
    yield* print(config.json, detail, Sagas.detailText)
  })).pipe(
    Command.withDescription("One saga instance: state, status, version, history of transitions, pending timeouts")
  )

/**
 * `herald saga list|show`.
 *
 * @since 0.1.0
 * @category commands
 */
export const saga = Command.make("saga").pipe(
  Command.withDescription("Saga instances (DATABASE_URL): list, show"),
  Command.withSubcommands([sagaList, sagaShow])
)

const outboxStatus = Command.make("status", {
  json,
  table: tableFlag("outbox", OutboxStatus.defaultTable)
}, (config) =>
  Effect.gen(function*() {
    const table = yield* Database.tableName("table", config.table)
    const report = yield* OutboxStatus.status({ table }).pipe(Effect.provide(Database.layer))
    const now = Date.now()
    yield* print(config.json, report, (r) => OutboxStatus.text(r, now))
  })).pipe(
    Command.withDescription("The outbox: pending, oldest pending age, retrying, parked, sent, last error")
  )

/**
 * `herald outbox status`.
 *
 * @since 0.1.0
 * @category commands
 */
export const outbox = Command.make("outbox").pipe(
  Command.withDescription("The transactional outbox (DATABASE_URL): status"),
  Command.withSubcommands([outboxStatus])
)
