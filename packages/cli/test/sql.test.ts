/**
 * The SQL-backed commands of the built `herald` binary (`tree`, `saga
 * list|show`, `outbox status`) on a SQLite file and on a PostgreSQL
 * database, each filled by the real packages: a saga run by `SagaRunner` on
 * `SagaSql` (its commands through the outbox and `OutboxRelay`), a message
 * parked by the relay, two left pending, and the flow indexed by
 * `CorrelationIndex.run` into `CorrelationIndexSql`. Then every bad
 * `DATABASE_URL` and bad argument: one line on stderr, exit code 1.
 */
import { type Envelope, EventLog, Message, Topology } from "@herald/transport"
import { IdGenerator } from "@herald/identity"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql } from "@herald/outbox"
import { CorrelationIndex, CorrelationIndexSql } from "@herald/replay"
import { Saga, SagaQuery, SagaRunner, SagaSql } from "@herald/saga"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport, NatsServer, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { NatsAdmin, NatsConnection, NatsTransport } from "@herald/transport-nats"
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { beforeAll } from "vitest"
import { assertBuilt, herald, json, type Run } from "./herald.ts"

beforeAll(() => assertBuilt())

/** Tests that start the binary ten times or more: longer than the project's bound. */
const timeout = 240_000

/** A run that failed: nothing on stdout, exactly `line` on stderr, exit code 1. */
const assertFailed = (result: Run, line: string) => {
  assert.strictEqual(result.stderr, `${line}\n`)
  assert.strictEqual(result.stdout, "")
  assert.strictEqual(result.code, 1)
}

const Order = Schema.Struct({ orderId: Schema.String })
const OrderPlaced = Message.event("OrderPlaced", Order)
const ShipOrder = Message.command("ShipOrder", Order)
const OrderShipped = Message.event("OrderShipped", Order)

const subjects = {
  placed: "test.shop.event.order.placed",
  ship: "test.shop.command.order.ship",
  shipped: "test.shop.event.order.shipped",
  nowhere: "test.nowhere.event.order.placed"
} as const

const Shipping = Saga.steps({
  name: "shipping",
  start: OrderPlaced,
  steps: (step) => [
    step({
      name: "ship",
      send: (ctx) => Saga.send(subjects.ship, ShipOrder, { orderId: ctx.start.orderId }),
      succeeded: OrderShipped,
      timeout: "1 hour"
    })
  ]
})

/** What the filling wrote, to compare the binary's output with. */
interface Filled {
  /** o-1: placed, shipped, completed. */
  readonly placed1: Envelope.Envelope
  readonly shipped1: Envelope.Envelope
  /** o-2: placed, its shipment never answered: running, its step's timeout pending. */
  readonly placed2: Envelope.Envelope
  /** Parked by the relay after its one attempt: no stream takes its subject. */
  readonly lost: Envelope.Envelope
  /** Written after the relay stopped: pending. */
  readonly pending: ReadonlyArray<Envelope.Envelope>
}

class Flow extends Context.Service<Flow, Filled>()("test/Flow") {}

const fill = Effect.gen(function*() {
  const shipped: Array<Envelope.Envelope> = []
  const flow = yield* Effect.scoped(Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    yield* Topology.ensure({
      streams: [{ name: "SHOP", subjects: ["test.shop.>"] }],
      consumers: [
        { stream: "SHOP", name: "saga", filterSubject: "test.shop.event.>" },
        { stream: "SHOP", name: "shipper", filterSubject: "test.shop.command.>" },
        { stream: "SHOP", name: "index" }
      ]
    })
    // The shipper ships o-1 only.
    yield* log.consume("SHOP", "shipper", (delivery) =>
      Effect.gen(function*() {
        const command = yield* ShipOrder.decode(delivery.envelope)
        if (command.orderId !== "o-1") return
        const event = yield* OrderShipped.causedBy(delivery.envelope, command)
        yield* log.append(subjects.shipped, event)
        shipped.push(event)
      }))
    yield* SagaRunner.run(Shipping, { stream: "SHOP", consumer: "saga" })
    yield* CorrelationIndex.run({ stream: "SHOP", consumer: "index" })
    yield* OutboxRelay.make({ maxAttempts: 1, pollInterval: "50 millis" })

    const placed1 = yield* OrderPlaced.root({ orderId: "o-1" })
    const placed2 = yield* OrderPlaced.root({ orderId: "o-2" })
    const lost = yield* OrderPlaced.root({ orderId: "o-lost" })
    yield* log.append(subjects.placed, placed1)
    yield* log.append(subjects.placed, placed2)
    yield* Outbox.publish(subjects.nowhere, lost)

    yield* Wait.until(
      SagaQuery.list("shipping"),
      (all) => all.map((i) => `${i.status}@${i.version}`).sort().join() === "completed@2,running@1",
      "o-1's saga completed and o-2's waiting",
      "30 seconds"
    )
    yield* Wait.until(
      Outbox.status,
      (s) => s.sent === 2 && s.parked === 1 && s.pending === 0,
      "two commands sent and one message parked",
      "30 seconds"
    )
    const index = yield* CorrelationIndex.CorrelationIndex
    yield* Wait.until(
      Effect.all([index.lookup(placed1.identity.correlationId), index.lookup(placed2.identity.correlationId)]),
      ([one, two]) => one.length === 3 && two.length === 2,
      "both flows indexed",
      "30 seconds"
    )
    return { placed1, placed2, lost }
  }))
  // The relay has stopped: these stay pending.
  const pending = [yield* OrderPlaced.root({ orderId: "o-3" }), yield* OrderPlaced.root({ orderId: "o-4" })]
  for (const envelope of pending) yield* Outbox.publish(subjects.placed, envelope)
  return Flow.of({ ...flow, shipped1: shipped[0]!, pending })
})

/** The binary's environment (`DATABASE_URL`, and `NATS_URL` on NATS) and the database's name in messages. */
class Url extends Context.Service<Url, { readonly env: Record<string, string>; readonly display: string }>()("test/Url") {}

/** `NATS_URL` for the binary, when the suite runs on NATS. */
class NatsEnv extends Context.Service<NatsEnv, Record<string, string>>()("test/NatsEnv") {}

/** The stores on the database, the memory transport, and the filled flow. */
const filled = (
  database: Layer.Layer<SqlClient.SqlClient | Url, unknown>,
  transport: Layer.Layer<EventLog.EventLog | Topology.Topology, unknown>
) =>
  Layer.effect(Flow, fill).pipe(
    Layer.provideMerge(Layer.mergeAll(SagaSql.layer(), CorrelationIndexSql.layer())),
    Layer.provideMerge(Outbox.layer.pipe(Layer.provideMerge(OutboxSql.layer()), Layer.provide(OutboxMigrations.layer()))),
    Layer.provideMerge(Layer.mergeAll(transport, IdGenerator.layer)),
    Layer.provideMerge(database)
  )

/** A nats-server of the suite's own, and `NATS_URL` for the binary. */
const NatsLive = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) =>
    Layer.merge(
      NatsTransport.layer({ servers: server.url, name: "cli-sql-test" }),
      Layer.succeed(NatsEnv, NatsEnv.of({ NATS_URL: server.url }))
    )
  )
).pipe(Layer.provide(NatsServer.layer()))

const tempFile = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "herald-cli-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => Path.join(dir, "app.db")))

const SqliteLive = Layer.unwrap(Effect.map(tempFile, (filename) =>
  Layer.merge(
    SqliteClient.layer({ filename }),
    Layer.succeed(Url, Url.of({ env: { DATABASE_URL: `sqlite:${filename}` }, display: filename }))
  )))

const pg = {
  host: process.env["PGHOST"] || "127.0.0.1",
  port: process.env["PGPORT"] || "5432",
  user: process.env["PGUSER"] || "postgres",
  password: process.env["PGPASSWORD"] || undefined
}

const PgLive = Layer.effect(
  Url,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly name: string }>`SELECT current_database() AS name`
    const credentials = pg.password === undefined ? pg.user : `${pg.user}:${encodeURIComponent(pg.password)}`
    const nats = yield* Effect.serviceOption(NatsEnv)
    return Url.of({
      env: { DATABASE_URL: `postgres://${credentials}@${pg.host}:${pg.port}/${row!.name}`, ...Option.getOrElse(nats, () => ({})) },
      display: `postgres://${pg.user}@${pg.host}:${pg.port}/${row!.name}`
    })
  })
).pipe(Layer.provideMerge(TestDatabase.layerPg()))

/** `herald ...args` with `DATABASE_URL` set to the suite's database (and `NATS_URL` to its server on NATS). */
const run = (...args: ReadonlyArray<string>) => Url.use(({ env }) => herald(args, env))

const time = (millis: number) => new Date(millis).toISOString().slice(0, 19).replace("T", " ")

const suite = (
  name: string,
  database: Layer.Layer<SqlClient.SqlClient | Url, unknown>,
  transport: Layer.Layer<EventLog.EventLog | Topology.Topology, unknown>,
  onNats: boolean
) =>
  layer(filled(database, transport), { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    if (onNats) {
      it.effect("tree --bodies: each message with its body and kind read from its stream", () =>
        Effect.gen(function*() {
          const flow = yield* Flow
          const index = yield* CorrelationIndex.CorrelationIndex
          const correlationId = flow.placed1.identity.correlationId
          const [placed, ship, shipped] = [...yield* index.lookup(correlationId)].sort((a, b) =>
            a.timestamp - b.timestamp || a.sequence - b.sequence
          )
          const drawn = yield* run("tree", correlationId, "--bodies")
          assert.strictEqual(drawn.stderr, "")
          assert.strictEqual(drawn.code, 0)
          assert.strictEqual(
            drawn.stdout,
            [
              `event OrderPlaced (${placed!.messageId}) {"orderId":"o-1"}`,
              `└─ command ShipOrder (${ship!.messageId}) {"orderId":"o-1"}`,
              `   └─ event OrderShipped (${shipped!.messageId}) {"orderId":"o-1"}`,
              ""
            ].join("\n")
          )
          const tree = json(yield* run("tree", correlationId, "--bodies", "--json")) as {
            readonly roots: ReadonlyArray<{
              readonly kind: string
              readonly body: unknown
              readonly children: ReadonlyArray<{ readonly kind: string; readonly body: unknown }>
            }>
          }
          assert.deepStrictEqual([tree.roots[0]!.kind, tree.roots[0]!.body], ["event", { orderId: "o-1" }])
          assert.deepStrictEqual([tree.roots[0]!.children[0]!.kind, tree.roots[0]!.children[0]!.body], ["command", {
            orderId: "o-1"
          }])

          // o-2's command removed from the stream: still in the tree, its body gone.
          const other = flow.placed2.identity.correlationId
          const [placed2, ship2] = [...yield* index.lookup(other)].sort((a, b) => a.sequence - b.sequence)
          const connection = Option.getOrThrow(yield* Effect.serviceOption(NatsConnection.NatsConnection))
          assert.isTrue(
            yield* NatsAdmin.deleteMessage("SHOP", ship2!.sequence).pipe(
              Effect.provideService(NatsConnection.NatsConnection, connection)
            )
          )
          const partial = yield* run("tree", other, "--bodies")
          assert.strictEqual(partial.stderr, "")
          assert.strictEqual(
            partial.stdout,
            [
              `event OrderPlaced (${placed2!.messageId}) {"orderId":"o-2"}`,
              `└─ command ShipOrder (${ship2!.messageId}) [no longer in SHOP]`,
              ""
            ].join("\n")
          )
          const gone = json(yield* run("tree", other, "--bodies", "--json")) as {
            readonly roots: ReadonlyArray<{ readonly children: ReadonlyArray<Record<string, unknown>> }>
          }
          assert.deepStrictEqual([gone.roots[0]!.children[0]!["kind"], gone.roots[0]!.children[0]!["body"]], ["command", null])
        }))
    } else {
      it.effect("tree --bodies with no server to read the bodies from: one line", () =>
        Effect.gen(function*() {
          const flow = yield* Flow
          const { env } = yield* Url
          const result = yield* herald(["tree", flow.placed1.identity.correlationId, "--bodies"], {
            ...env,
            NATS_URL: "nats://127.0.0.1:1"
          })
          assertFailed(result, "herald: connection: connect to nats://127.0.0.1:1: connection refused")
        }))
    }

    it.effect("tree: the causation tree of one flow, drawn and as nested JSON", () =>
      Effect.gen(function*() {
        const flow = yield* Flow
        const index = yield* CorrelationIndex.CorrelationIndex
        const correlationId = flow.placed1.identity.correlationId
        const [placed, ship, shipped] = [...yield* index.lookup(correlationId)].sort((a, b) =>
          a.timestamp - b.timestamp || a.sequence - b.sequence
        )
        assert.strictEqual(placed!.messageId, flow.placed1.identity.messageId)
        assert.strictEqual(shipped!.messageId, flow.shipped1.identity.messageId)
        assert.strictEqual(ship!.causationId, placed!.messageId)
        assert.deepStrictEqual([placed!.kind, ship!.kind, shipped!.kind], ["event", "command", "event"])

        const drawn = yield* run("tree", correlationId)
        assert.strictEqual(drawn.stderr, "")
        assert.strictEqual(drawn.code, 0)
        assert.strictEqual(
          drawn.stdout,
          [
            `event OrderPlaced (${placed!.messageId})`,
            `└─ command ShipOrder (${ship!.messageId})`,
            `   └─ event OrderShipped (${shipped!.messageId})`,
            ""
          ].join("\n")
        )

        const node = (entry: CorrelationIndex.Entry, kind: string, children: ReadonlyArray<unknown>) => ({
          messageId: entry.messageId,
          causationId: entry.causationId,
          kind,
          type: entry.type,
          subject: entry.subject,
          stream: "SHOP",
          sequence: entry.sequence,
          storedAt: new Date(entry.timestamp).toISOString(),
          children
        })
        assert.deepStrictEqual(json(yield* run("tree", correlationId, "--json")), {
          correlationId,
          messages: 3,
          roots: [node(placed!, "event", [node(ship!, "command", [node(shipped!, "event", [])])])],
          cycles: []
        })
        assert.deepStrictEqual([placed!.subject, ship!.subject, shipped!.subject], [
          subjects.placed,
          subjects.ship,
          subjects.shipped
        ])

        assertFailed(yield* run("tree", "no such flow"), `herald: malformed correlation id "no such flow": whitespace at 2`)
        assertFailed(
          yield* run("tree", "flow-that-never-was"),
          "herald: no messages for correlation id flow-that-never-was in herald_correlation_index"
        )
        const { display } = yield* Url
        assertFailed(
          yield* run("tree", correlationId, "--table", "herald_no_index"),
          `herald: table herald_no_index not found in ${display}: the correlation index (@herald/replay) has not created its tables there`
        )
        assertFailed(
          yield* run("tree", correlationId, "--table", "no;table"),
          `herald: malformed table "no;table": expected an identifier or schema.name`
        )
      }), timeout)

    it.effect("tree: the kind the index recorded, else the subject's, else none", () =>
      Effect.gen(function*() {
        const index = yield* CorrelationIndex.CorrelationIndex
        const at = Date.parse("2026-12-06T08:00:00.000Z")
        const entry = (n: number, fields: Pick<CorrelationIndex.Entry, "type" | "kind" | "subject">) => ({
          correlationId: "kind-root",
          messageId: n === 1 ? "kind-root" : `kind-${n}`,
          causationId: n <= 2 ? "kind-root" : `kind-${n - 1}`,
          stream: "ELSEWHERE",
          sequence: n,
          timestamp: at + n,
          ...fields
        })
        assert.strictEqual(
          yield* index.record([
            // outside the naming convention: the recorded kind
            entry(1, { type: "PlaceOrder", kind: "command", subject: "orders.cmd.order.place" }),
            // no kind recorded (an older index): the subject's
            entry(2, { type: "OrderPlaced", kind: null, subject: subjects.placed }),
            // neither
            entry(3, { type: "OrderNoted", subject: "orders.evt.order.noted" })
          ]),
          3
        )
        const drawn = yield* run("tree", "kind-root")
        assert.strictEqual(drawn.stderr, "")
        assert.strictEqual(
          drawn.stdout,
          ["command PlaceOrder (kind-root)", "└─ event OrderPlaced (kind-2)", "   └─ OrderNoted (kind-3)", ""].join("\n")
        )
        const tree = json(yield* run("tree", "kind-root", "--json")) as {
          readonly roots: ReadonlyArray<{
            readonly kind: string | null
            readonly children: ReadonlyArray<{
              readonly kind: string | null
              readonly children: ReadonlyArray<{ readonly kind: string | null }>
            }>
          }>
        }
        const root = tree.roots[0]!
        assert.deepStrictEqual(
          [root.kind, root.children[0]!.kind, root.children[0]!.children[0]!.kind],
          ["command", "event", null]
        )
      }))

    it.effect("saga list: instances with saga, id, status, version, last update; filters and limit", () =>
      Effect.gen(function*() {
        const flow = yield* Flow
        const one = flow.placed1.identity.correlationId
        const two = flow.placed2.identity.correlationId
        const stored = yield* SagaQuery.list("shipping")
        const instance = (id: string) => stored.find((i) => i.id === id)!
        const report = (id: string) => {
          const i = instance(id)
          return {
            saga: "shipping",
            id,
            status: i.status,
            version: i.version,
            createdAt: new Date(i.createdAt).toISOString(),
            updatedAt: new Date(i.updatedAt).toISOString(),
            failure: null,
            state: i.state
          }
        }
        // least recently updated first
        const order = [...stored].sort((a, b) => a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : 1)).map((i) => i.id)
        const listed = json(yield* run("saga", "list", "--json")) as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(listed, order.map(report))
        assert.deepStrictEqual([instance(one).status, instance(one).version], ["completed", 2])
        assert.deepStrictEqual([instance(two).status, instance(two).version], ["running", 1])

        assert.deepStrictEqual(json(yield* run("saga", "list", "--saga", "shipping", "--status", "running", "--json")), [
          report(two)
        ])
        assert.deepStrictEqual(json(yield* run("saga", "list", "--status", "completed", "--json")), [report(one)])
        assert.deepStrictEqual(json(yield* run("saga", "list", "--limit", "1", "--json")), [report(order[0]!)])
        assert.deepStrictEqual(json(yield* run("saga", "list", "--saga", "billing", "--json")), [])

        const table = yield* run("saga", "list")
        assert.strictEqual(table.stderr, "")
        assert.strictEqual(table.code, 0)
        const width = one.length
        const row = (id: string) => {
          const i = instance(id)
          return `shipping  ${id.padEnd(width)}  ${i.status.padEnd(9)}  ${String(i.version).padStart(7)}  ${time(i.updatedAt)}`
        }
        assert.strictEqual(
          table.stdout,
          [
            `Saga      ${"Id".padEnd(width)}  Status     Version  Updated`,
            `--------  ${"-".repeat(width)}  ---------  -------  -------------------`,
            ...order.map(row),
            ""
          ].join("\n")
        )
        assert.strictEqual(
          (yield* run("saga", "list", "--saga", "billing")).stdout,
          "Saga  Id  Status  Version  Updated\n----  --  ------  -------  -------\n(none)\n"
        )

        assertFailed(
          yield* run("saga", "list", "--status", "stuck"),
          `herald: unknown saga status "stuck": expected one of running, completed, compensating, compensated, compensation-failed`
        )
        assertFailed(yield* run("saga", "list", "--limit", "0"), "herald: malformed limit 0: expected a positive integer")
      }), timeout)

    it.effect("saga show: state, status, version, history of transitions and pending timeouts", () =>
      Effect.gen(function*() {
        const flow = yield* Flow
        const id = flow.placed2.identity.correlationId
        const view = Option.getOrThrow(yield* SagaQuery.getByName("shipping", id))
        const [transition] = yield* SagaQuery.history("shipping", id)
        assert.strictEqual(view.timeouts.length, 1)
        const timeout = view.timeouts[0]!
        const command = transition!.outgoing[0]!
        assert.deepStrictEqual([command.type, command.subject], ["ShipOrder", subjects.ship])

        const shown = json(yield* run("saga", "show", "shipping", id, "--json"))
        assert.deepStrictEqual(shown, {
          saga: "shipping",
          id,
          status: "running",
          version: 1,
          createdAt: new Date(view.createdAt).toISOString(),
          updatedAt: new Date(view.updatedAt).toISOString(),
          failure: null,
          state: view.state,
          history: [{
            version: 1,
            at: new Date(transition!.at).toISOString(),
            trigger: {
              messageId: flow.placed2.identity.messageId,
              type: "OrderPlaced",
              subject: subjects.placed,
              stream: "SHOP",
              streamSequence: transition!.trigger.streamSequence
            },
            status: "running",
            sent: [{ messageId: command.messageId, type: "ShipOrder", subject: subjects.ship }],
            scheduled: [{ name: "step:ship", token: timeout.token, dueAt: new Date(timeout.dueAt).toISOString() }],
            cancelled: []
          }],
          timeouts: [{ name: "step:ship", token: timeout.token, dueAt: new Date(timeout.dueAt).toISOString(), type: timeout.type }]
        })
        assert.isString(timeout.type)
        assert.strictEqual(timeout.dueAt - view.updatedAt, 3_600_000)

        const text = yield* run("saga", "show", "shipping", id)
        assert.strictEqual(text.stderr, "")
        assert.strictEqual(text.code, 0)
        const trigger = "OrderPlaced"
        assert.strictEqual(
          text.stdout,
          [
            `Saga     shipping`,
            `Id       ${id}`,
            `Status   running`,
            `Version  1`,
            `Created  ${time(view.createdAt)}`,
            `Updated  ${time(view.updatedAt)}`,
            "",
            "State",
            JSON.stringify(view.state, null, 2),
            "",
            "History",
            "Version  At                   Trigger      Status   Sent       Scheduled  Cancelled",
            "-------  -------------------  -----------  -------  ---------  ---------  ---------",
            `      1  ${time(transition!.at)}  ${trigger}  running  ShipOrder  step:ship  -`,
            "",
            "Pending timeouts",
            `Name       Due                  ${"Delivers".padEnd(timeout.type!.length)}`.trimEnd(),
            `---------  -------------------  ${"-".repeat(Math.max(8, timeout.type!.length))}`,
            `step:ship  ${time(timeout.dueAt)}  ${timeout.type}`,
            ""
          ].join("\n")
        )

        const completed = json(yield* run("saga", "show", "shipping", flow.placed1.identity.correlationId, "--json")) as {
          readonly status: string
          readonly history: ReadonlyArray<{ readonly trigger: { readonly type: string }; readonly cancelled: unknown }>
          readonly timeouts: ReadonlyArray<unknown>
        }
        assert.strictEqual(completed.status, "completed")
        assert.deepStrictEqual(completed.history.map((h) => h.trigger.type), ["OrderPlaced", "OrderShipped"])
        assert.deepStrictEqual(completed.timeouts, [])

        assertFailed(yield* run("saga", "show", "billing", id), "herald: no saga named billing: no instances of it are stored")
        assertFailed(yield* run("saga", "show", "shipping", "o-999"), "herald: saga shipping has no instance o-999")
        const { display } = yield* Url
        assertFailed(
          yield* run("saga", "show", "shipping", id, "--prefix", "herald_nothing"),
          `herald: table herald_nothing_instances not found in ${display}: the saga store (@herald/saga) has not created its tables there`
        )
      }), timeout)

    it.effect("outbox status: pending, oldest pending age, parked, sent, the last error", () =>
      Effect.gen(function*() {
        const flow = yield* Flow
        const status = yield* Outbox.status
        assert.deepStrictEqual([status.pending, status.parked, status.sent, status.leased, status.retrying], [2, 1, 2, 0, 0])
        const failure = status.lastError!
        assert.strictEqual(failure.messageId, flow.lost.identity.messageId)

        const started = Date.now()
        const report = json(yield* run("outbox", "status", "--json")) as Record<string, unknown>
        const age = report["oldestPendingAgeMillis"] as number
        assert.isAtLeast(age, started - status.oldestPendingAt!)
        assert.isAtMost(age, Date.now() - status.oldestPendingAt!)
        assert.deepStrictEqual(report, {
          table: "herald_outbox",
          pending: 2,
          leased: 0,
          retrying: 0,
          parked: 1,
          sent: 2,
          oldestPendingAt: new Date(status.oldestPendingAt!).toISOString(),
          oldestPendingAgeMillis: age,
          maxAttempts: 1,
          lastError: {
            messageId: flow.lost.identity.messageId,
            subject: subjects.nowhere,
            state: "failed",
            attempts: 1,
            error: failure.lastError,
            at: new Date(failure.lastAttemptAt!).toISOString()
          }
        })

        const before = Date.now()
        const text = yield* run("outbox", "status")
        const after = Date.now()
        assert.strictEqual(text.stderr, "")
        assert.strictEqual(text.code, 0)
        const lines = text.stdout.split("\n")
        assert.deepStrictEqual(lines.slice(0, 6), ["Outbox herald_outbox", "", "Pending         2", "  leased        0", "  retrying      0", lines[5]])
        // The age is rounded to its unit (`42s ago`, `3m ago`): within one unit of the time it took to answer.
        const shown = new RegExp(`^Oldest pending  ${time(status.oldestPendingAt!)} \\((\\d+)([smhd]) ago\\)$`).exec(lines[5]!)
        assert.isNotNull(shown, lines[5])
        const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[shown![2] as "s" | "m" | "h" | "d"]
        assert.isAtLeast(Number(shown![1]) * unit, before - status.oldestPendingAt! - unit)
        assert.isAtMost(Number(shown![1]) * unit, after - status.oldestPendingAt! + unit)
        assert.deepStrictEqual(lines.slice(6), [
          "Parked          1",
          "Sent (kept)     2",
          "Max attempts    1",
          `Last error      ${failure.lastError.length > 120 ? `${failure.lastError.slice(0, 119)}…` : failure.lastError} (${flow.lost.identity.messageId} on ${subjects.nowhere}, failed, 1 attempt, ${time(failure.lastAttemptAt!)})`,
          ""
        ])

        const { display } = yield* Url
        assertFailed(
          yield* run("outbox", "status", "--table", "herald_no_outbox"),
          `herald: table herald_no_outbox not found in ${display}: the outbox (@herald/outbox) has not created its tables there`
        )
      }))
  })

suite("herald on a SQLite file, the flow on the memory transport", SqliteLive, MemoryTransport.layer, false)
suite("herald on PostgreSQL, the flow on NATS", PgLive.pipe(Layer.provideMerge(NatsLive)), NatsLive, true)

layer(Layer.empty, { excludeTestServices: true, timeout: "60 seconds" })("DATABASE_URL", (it) => {
  const withUrl = (url: string | undefined, ...args: ReadonlyArray<string>) =>
    herald(args, url === undefined ? {} : { DATABASE_URL: url })
  const schemes =
    "postgres://…, postgresql://…, sqlite:/path/app.db, file:/path/app.db or a path ending in .db or .sqlite"

  it.effect("missing, of an unknown scheme, unreachable, naming no database, or a file that is not there", () =>
    Effect.gen(function*() {
      for (const args of [["tree", "abc"], ["saga", "list"], ["saga", "show", "shipping", "o-1"], ["outbox", "status"]]) {
        assertFailed(
          yield* withUrl(undefined, ...args),
          `herald: DATABASE_URL is not set: this command reads a database (${schemes})`
        )
      }
      assertFailed(
        yield* withUrl("mysql://root:secret@127.0.0.1/shop", "outbox", "status"),
        `herald: unsupported DATABASE_URL scheme "mysql:": expected ${schemes}`
      )
      assertFailed(
        yield* withUrl("shop", "outbox", "status"),
        `herald: DATABASE_URL names no database herald knows: expected ${schemes}`
      )
      assertFailed(
        yield* withUrl(`postgres://${pg.user}:s3cret@127.0.0.1:1/shop`, "saga", "list"),
        `herald: cannot connect to PostgreSQL at postgres://${pg.user}@127.0.0.1:1/shop: connect ECONNREFUSED 127.0.0.1:1`
      )
      assertFailed(
        yield* withUrl(`postgresql://${pg.user}@${pg.host}:${pg.port}/herald_cli_no_such_db`, "tree", "abc"),
        `herald: cannot connect to PostgreSQL at postgres://${pg.user}@${pg.host}:${pg.port}/herald_cli_no_such_db: database "herald_cli_no_such_db" does not exist`
      )

      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "herald-cli-url-"))
      try {
        const missing = Path.join(dir, "missing.db")
        for (const url of [missing, `sqlite:${missing}`, `sqlite://${missing}`, `file://${missing}`]) {
          assertFailed(yield* withUrl(url, "tree", "abc"), `herald: SQLite database ${missing} does not exist`)
        }
        assert.deepStrictEqual(Fs.readdirSync(dir), [], "no database file created")
        const text = Path.join(dir, "notes.sqlite")
        Fs.writeFileSync(text, "not a database")
        assertFailed(
          yield* withUrl(text, "outbox", "status"),
          `herald: cannot open SQLite database ${text}: file is not a database`
        )
        // An empty database: the tables were never created.
        const empty = Path.join(dir, "empty.db")
        yield* Effect.scoped(Effect.flatMap(
          Layer.build(SqliteClient.layer({ filename: empty })),
          (context) => Context.get(context, SqlClient.SqlClient)`CREATE TABLE unrelated (id INTEGER)`
        ))
        assertFailed(
          yield* withUrl(empty, "tree", "abc"),
          `herald: table herald_correlation_index not found in ${empty}: the correlation index (@herald/replay) has not created its tables there`
        )
        assertFailed(
          yield* withUrl(`sqlite:${empty}`, "saga", "list"),
          `herald: table herald_saga_instances not found in ${empty}: the saga store (@herald/saga) has not created its tables there`
        )
        assertFailed(
          yield* withUrl(`file:${empty}`, "outbox", "status"),
          `herald: table herald_outbox not found in ${empty}: the outbox (@herald/outbox) has not created its tables there`
        )
      } finally {
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    }), timeout)
})
