import { NatsServer } from "@herald/testing"
import { Topology, type TransportError } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { NatsConnection, NatsTopology } from "../src/index.ts"
import * as Errors from "../src/internal/errors.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsConnection.layer({ servers: server.url, name: "topology-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

const Live = NatsTopology.layer.pipe(Layer.provideMerge(Nats))

let counter = 0
const unique = () => `t${++counter}x${Math.random().toString(36).slice(2, 7)}`

const reasonOf = <A, R>(effect: Effect.Effect<A, TransportError.TransportError, R>) =>
  Effect.flatMap(Effect.flip(effect), (e) => Effect.succeed(e.reason))

const detailOf = (reason: TransportError.TransportErrorReason): string =>
  "detail" in reason && typeof reason.detail === "string" ? `${reason._tag}: ${reason.detail}` : reason._tag

const millis = (d: Duration.Input | undefined) => d === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(d))

const manager = NatsConnection.NatsConnection.useSync((c) => c.manager)
const streamInfo = (name: string) => Effect.flatMap(manager, (m) => Effect.promise(() => m.streams.info(name)))
const consumerInfo = (stream: string, name: string) =>
  Effect.flatMap(manager, (m) => Effect.promise(() => m.consumers.info(stream, name)))

const action = (change: Topology.Change) => `${change.kind} ${change.name} ${change.action}`

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("NatsTopology", (it) => {
  it.effect("ensureStream creates, reports unchanged, updates a drifted limit and keeps the messages", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const { client } = yield* NatsConnection.NatsConnection
      const name = unique().toUpperCase()
      const p = unique()
      const config: Topology.StreamConfig = {
        name,
        subjects: [`${p}.orders.>`, `${p}.audit`],
        description: "orders",
        maxMessages: 100,
        maxBytes: 1_000_000,
        maxAge: "1 hour",
        maxMessageSize: 2048,
        maxMessagesPerSubject: 10,
        discard: "new",
        duplicateWindow: "30 seconds"
      }
      assert.strictEqual(action(yield* topology.ensureStream(config)), `stream ${name} created`)
      const created = (yield* streamInfo(name)).config
      assert.deepStrictEqual(
        {
          subjects: created.subjects,
          description: created.description,
          retention: created.retention,
          storage: created.storage,
          max_msgs: created.max_msgs,
          max_bytes: created.max_bytes,
          max_age: created.max_age,
          max_msg_size: created.max_msg_size,
          max_msgs_per_subject: created.max_msgs_per_subject,
          discard: created.discard,
          duplicate_window: created.duplicate_window,
          num_replicas: created.num_replicas
        },
        {
          subjects: [`${p}.orders.>`, `${p}.audit`],
          description: "orders",
          retention: "limits",
          storage: "file",
          max_msgs: 100,
          max_bytes: 1_000_000,
          max_age: 3_600_000_000_000,
          max_msg_size: 2048,
          max_msgs_per_subject: 10,
          discard: "new",
          duplicate_window: 30_000_000_000,
          num_replicas: 1
        }
      )
      assert.strictEqual(action(yield* topology.ensureStream(config)), `stream ${name} unchanged`)
      // Subjects in another order are the same subjects.
      assert.strictEqual(
        action(yield* topology.ensureStream({ ...config, subjects: [`${p}.audit`, `${p}.orders.>`] })),
        `stream ${name} unchanged`
      )
      client.publish(`${p}.audit`, "one")
      yield* Effect.promise(() => client.flush())
      assert.strictEqual(action(yield* topology.ensureStream({ ...config, maxMessages: 200 })), `stream ${name} updated`)
      const updated = yield* streamInfo(name)
      assert.strictEqual(updated.config.max_msgs, 200)
      assert.strictEqual(updated.state.messages, 1)
      // Removing a limit and the description clears them on the server.
      const { description: _, maxBytes: __, ...rest } = config
      assert.strictEqual(action(yield* topology.ensureStream({ ...rest, maxMessages: 200 })), `stream ${name} updated`)
      const cleared = (yield* streamInfo(name)).config
      assert.strictEqual(cleared.max_bytes, -1)
      assert.strictEqual(cleared.description ?? "", "")
      assert.strictEqual(action(yield* topology.ensureStream({ ...rest, maxMessages: 200 })), `stream ${name} unchanged`)
      const listed = (yield* topology.listStreams).find((s) => s.name === name)
      assert.deepStrictEqual(
        { ...listed, maxAge: millis(listed?.maxAge), duplicateWindow: millis(listed?.duplicateWindow) },
        {
          name,
          subjects: [`${p}.orders.>`, `${p}.audit`],
          retention: "limits",
          storage: "file",
          discard: "new",
          duplicateWindow: 30_000,
          replicas: 1,
          maxMessages: 200,
          maxAge: 3_600_000,
          maxMessageSize: 2048,
          maxMessagesPerSubject: 10
        }
      )
    }))

  it.effect("defaults: the server's own values compare unchanged (duplicate window clamped to a short maxAge)", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const plain = unique().toUpperCase()
      const short = unique().toUpperCase()
      assert.strictEqual(action(yield* topology.ensureStream({ name: plain, subjects: [`${unique()}.>`] })), `stream ${plain} created`)
      assert.strictEqual((yield* streamInfo(plain)).config.duplicate_window, 120_000_000_000)
      assert.strictEqual(action(yield* topology.ensureStream({ name: plain, subjects: (yield* streamInfo(plain)).config.subjects })), `stream ${plain} unchanged`)
      const shortConfig: Topology.StreamConfig = { name: short, subjects: [`${unique()}.>`], maxAge: "30 seconds" }
      assert.strictEqual(action(yield* topology.ensureStream(shortConfig)), `stream ${short} created`)
      assert.strictEqual((yield* streamInfo(short)).config.duplicate_window, 30_000_000_000)
      assert.strictEqual(action(yield* topology.ensureStream(shortConfig)), `stream ${short} unchanged`)
      const tooLong = yield* reasonOf(topology.ensureStream({ ...shortConfig, duplicateWindow: "1 minute" }))
      assert.strictEqual(detailOf(tooLong), `InvalidConfig: stream ${short}: duplicateWindow (60000 ms) exceeds maxAge (30000 ms)`)
    }))

  it.effect("a change the server refuses (storage, retention) is a TopologyConflict naming the field, sent nowhere", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const name = unique().toUpperCase()
      const config: Topology.StreamConfig = { name, subjects: [`${unique()}.>`] }
      yield* topology.ensureStream(config)
      assert.strictEqual(
        detailOf(yield* reasonOf(topology.ensureStream({ ...config, storage: "memory" }))),
        `TopologyConflict: stream ${name}: storage cannot be changed from file to memory`
      )
      assert.strictEqual(
        detailOf(yield* reasonOf(topology.ensureStream({ ...config, retention: "workqueue", maxMessages: 5 }))),
        `TopologyConflict: stream ${name}: retention cannot be changed from limits to workqueue`
      )
      const info = yield* streamInfo(name)
      assert.deepStrictEqual([info.config.storage, info.config.retention, info.config.max_msgs], ["file", "limits", -1])
      // The server's own refusal maps to the same reason.
      const m = yield* manager
      const refused = yield* Effect.flip(Effect.tryPromise({
        try: () => m.streams.update(name, { ...info.config, storage: "memory" } as never),
        catch: (e) => Errors.fromUnknown(e, { operation: "update", stream: name })
      }))
      assert.strictEqual(refused.reason._tag, "TopologyConflict")
    }))

  it.effect("subjects overlapping another stream's fail with TopologyConflict naming both, before the server sees them", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const p = unique()
      const existing = unique().toUpperCase()
      const clash = unique().toUpperCase()
      yield* topology.ensureStream({ name: existing, subjects: [`${p}.orders.>`] })
      const reason = yield* reasonOf(topology.ensureStream({ name: clash, subjects: [`${p}.other`, `${p}.orders.*.shipped`] }))
      assert.strictEqual(
        detailOf(reason),
        `TopologyConflict: stream ${clash} "${p}.orders.*.shipped" overlaps stream ${existing} "${p}.orders.>"`
      )
      // Widening an existing stream onto another's subjects too.
      const other = unique().toUpperCase()
      yield* topology.ensureStream({ name: other, subjects: [`${p}.other.>`] })
      assert.strictEqual(
        (yield* reasonOf(topology.ensureStream({ name: other, subjects: [`${p}.>`] })))._tag,
        "TopologyConflict"
      )
      // A whole declaration names every pair.
      const a = unique().toUpperCase()
      const whole = yield* reasonOf(Topology.ensure({
        streams: [{ name: a, subjects: [`${p}.orders.created`] }],
        consumers: []
      }))
      assert.include(detailOf(whole), existing)
      assert.include(detailOf(whole), a)
      const names = (yield* topology.listStreams).map((s) => s.name)
      assert.isFalse(names.includes(clash))
      assert.isFalse(names.includes(a))
      assert.deepStrictEqual((yield* streamInfo(other)).config.subjects, [`${p}.other.>`])
      // The server refuses an overlap by itself, and that maps to TopologyConflict too.
      const m = yield* manager
      const refused = yield* Effect.flip(Effect.tryPromise({
        try: () => m.streams.add({ name: clash, subjects: [`${p}.orders.x`] }),
        catch: (e) => Errors.fromUnknown(e, { operation: "create", stream: clash })
      }))
      assert.strictEqual(refused.reason._tag, "TopologyConflict")
    }))

  it.effect("consumers: created with every field, read back exactly, dead-letter subject included", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const p = unique()
      const stream = unique().toUpperCase()
      yield* topology.ensureStream({ name: stream, subjects: [`${p}.orders.>`] })
      const billing: Topology.ConsumerConfig = {
        stream,
        name: "billing",
        description: "bills orders",
        filterSubject: `${p}.orders.created`,
        deliverPolicy: Topology.DeliverPolicy.byStartSequence(7),
        ackWait: "5 seconds",
        maxDeliver: 4,
        maxAckPending: 50,
        deadLetterSubject: `${p}.dlq.billing`
      }
      assert.strictEqual(action(yield* topology.ensureConsumer(billing)), "consumer billing created")
      const raw = (yield* consumerInfo(stream, "billing")).config
      assert.deepStrictEqual(
        {
          durable_name: raw.durable_name,
          description: raw.description,
          ack_policy: raw.ack_policy,
          deliver_policy: raw.deliver_policy,
          opt_start_seq: raw.opt_start_seq,
          filter_subject: raw.filter_subject,
          ack_wait: raw.ack_wait,
          max_deliver: raw.max_deliver,
          max_ack_pending: raw.max_ack_pending
        },
        {
          durable_name: "billing",
          description: `bills orders [herald:dlq=${p}.dlq.billing]`,
          ack_policy: "explicit",
          deliver_policy: "by_start_sequence",
          opt_start_seq: 7,
          filter_subject: `${p}.orders.created`,
          ack_wait: 5_000_000_000,
          max_deliver: 4,
          max_ack_pending: 50
        }
      )
      const back = yield* topology.consumerConfig(stream, "billing")
      assert.deepStrictEqual({ ...back, ackWait: millis(back.ackWait) }, { ...billing, ackWait: 5000 })
      assert.strictEqual(Topology.deadLetterSubject(back), `${p}.dlq.billing`)
      assert.strictEqual(NatsTopology.deadLetterSubjectOf(raw.description), `${p}.dlq.billing`)
      assert.strictEqual(action(yield* topology.ensureConsumer(billing)), "consumer billing unchanged")

      // Defaults: explicit acks, deliver all, 30 s ack wait, unlimited deliveries, 1,000 pending, default dead letters.
      const audit: Topology.ConsumerConfig = { stream, name: "audit" }
      assert.strictEqual(action(yield* topology.ensureConsumer(audit)), "consumer audit created")
      const auditRaw = (yield* consumerInfo(stream, "audit")).config
      assert.deepStrictEqual(
        [auditRaw.deliver_policy, auditRaw.ack_wait, auditRaw.max_deliver, auditRaw.max_ack_pending, auditRaw.description ?? ""],
        ["all", 30_000_000_000, -1, 1000, ""]
      )
      const auditBack = yield* topology.consumerConfig(stream, "audit")
      assert.deepStrictEqual(
        { ...auditBack, ackWait: millis(auditBack.ackWait) },
        { stream, name: "audit", deliverPolicy: Topology.DeliverPolicy.all, ackWait: 30_000, maxAckPending: 1000 }
      )
      assert.strictEqual(Topology.deadLetterSubject(auditBack), `herald.dlq.${stream}.audit`)
      assert.strictEqual(action(yield* topology.ensureConsumer(audit)), "consumer audit unchanged")

      // Only a dead-letter subject: the description holds just Herald's suffix.
      yield* topology.ensureConsumer({ stream, name: "dlqonly", deadLetterSubject: `${p}.dlq.x` })
      assert.strictEqual((yield* consumerInfo(stream, "dlqonly")).config.description, `[herald:dlq=${p}.dlq.x]`)
      const dlqOnly = yield* topology.consumerConfig(stream, "dlqonly")
      assert.deepStrictEqual([dlqOnly.description, dlqOnly.deadLetterSubject], [undefined, `${p}.dlq.x`])

      // By start time.
      const at = Date.UTC(2024, 0, 1, 12, 30, 15, 250)
      const timed: Topology.ConsumerConfig = { stream, name: "timed", deliverPolicy: Topology.DeliverPolicy.byStartTime(at) }
      yield* topology.ensureConsumer(timed)
      assert.deepStrictEqual((yield* topology.consumerConfig(stream, "timed")).deliverPolicy, Topology.DeliverPolicy.byStartTime(at))
      assert.strictEqual(action(yield* topology.ensureConsumer(timed)), "consumer timed unchanged")
    }))

  it.effect("consumers: drift is updated in place; a new deliver policy or filter is a TopologyConflict", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const p = unique()
      const stream = unique().toUpperCase()
      yield* topology.ensureStream({ name: stream, subjects: [`${p}.orders.>`] })
      const base: Topology.ConsumerConfig = { stream, name: "c", filterSubject: `${p}.orders.created`, maxDeliver: 3 }
      yield* topology.ensureConsumer(base)
      assert.strictEqual(action(yield* topology.ensureConsumer({ ...base, maxDeliver: 5 })), "consumer c updated")
      assert.strictEqual((yield* consumerInfo(stream, "c")).config.max_deliver, 5)
      const withBackoff: Topology.ConsumerConfig = { ...base, maxDeliver: 5, backoff: ["1 second", "4 seconds"], deadLetterSubject: `${p}.dlq` }
      assert.strictEqual(action(yield* topology.ensureConsumer(withBackoff)), "consumer c updated")
      const raw = (yield* consumerInfo(stream, "c")).config
      // JetStream replaces ack_wait by the first backoff step.
      assert.deepStrictEqual([raw.backoff, raw.ack_wait], [[1_000_000_000, 4_000_000_000], 1_000_000_000])
      assert.strictEqual(action(yield* topology.ensureConsumer(withBackoff)), "consumer c unchanged")
      const back = yield* topology.consumerConfig(stream, "c")
      assert.deepStrictEqual(
        [back.backoff?.map(millis), millis(back.ackWait), back.maxDeliver, back.deadLetterSubject],
        [[1000, 4000], 1000, 5, `${p}.dlq`]
      )
      // Dropping the backoff clears it.
      assert.strictEqual(action(yield* topology.ensureConsumer({ ...base, maxDeliver: 5 })), "consumer c updated")
      const cleared = (yield* consumerInfo(stream, "c")).config
      assert.deepStrictEqual([cleared.backoff ?? [], cleared.ack_wait, cleared.description ?? ""], [[], 30_000_000_000, ""])

      assert.strictEqual(
        detailOf(yield* reasonOf(topology.ensureConsumer({ ...base, maxDeliver: 5, deliverPolicy: Topology.DeliverPolicy.new }))),
        `TopologyConflict: consumer ${stream}/c: deliverPolicy cannot be changed from All to New`
      )
      assert.strictEqual(
        detailOf(yield* reasonOf(topology.ensureConsumer({ ...base, maxDeliver: 5, filterSubject: `${p}.orders.shipped` }))),
        `TopologyConflict: consumer ${stream}/c: filterSubject cannot be changed from ${p}.orders.created to ${p}.orders.shipped`
      )
      assert.strictEqual((yield* consumerInfo(stream, "c")).config.filter_subject, `${p}.orders.created`)
      // The server's own refusal of a deliver policy change maps to TopologyConflict too.
      const m = yield* manager
      const refused = yield* Effect.flip(Effect.tryPromise({
        try: () => m.consumers.add(stream, { durable_name: "c", ack_policy: "explicit", deliver_policy: "new", max_deliver: 5 }),
        catch: (e) => Errors.fromUnknown(e, { operation: "update consumer", stream, consumer: "c" })
      }))
      assert.strictEqual(refused.reason._tag, "TopologyConflict")
    }))

  it.effect("consumers JetStream would refuse fail with InvalidConfig before anything is sent", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const p = unique()
      const stream = unique().toUpperCase()
      const queue = unique().toUpperCase()
      yield* topology.ensureStream({ name: stream, subjects: [`${p}.orders.>`] })
      yield* topology.ensureStream({ name: queue, subjects: [`${p}.jobs.>`], retention: "workqueue" })
      const cases: ReadonlyArray<readonly [Topology.ConsumerConfig, string]> = [
        [
          { stream, name: "b", backoff: ["1 second"] },
          `InvalidConfig: consumer ${stream}/b: backoff needs maxDeliver (more than 1, the number of backoff steps)`
        ],
        [
          { stream, name: "f", filterSubject: `${p}.users.>` },
          `InvalidConfig: consumer ${stream}/f: filterSubject "${p}.users.>" matches none of the stream's subjects`
        ],
        [
          { stream: queue, name: "w", deliverPolicy: Topology.DeliverPolicy.new },
          `InvalidConfig: consumer ${queue}/w: a consumer of a workqueue stream must deliver all`
        ],
        [
          { stream, name: "m", backoff: ["1 second", "2 seconds"], maxDeliver: 2 },
          `InvalidConfig: consumer ${stream}/m: maxDeliver (2) must exceed the number of backoff steps (2)`
        ],
        [{ stream, name: "bad name" }, `InvalidConfig: consumer name "bad name" has " " at 3; names may not contain whitespace, '.', '*', '>', '/' or '\\'`]
      ]
      for (const [config, detail] of cases) {
        assert.strictEqual(detailOf(yield* reasonOf(topology.ensureConsumer(config))), detail)
      }
      assert.strictEqual((yield* streamInfo(stream)).state.consumer_count, 0)
      assert.strictEqual((yield* streamInfo(queue)).state.consumer_count, 0)
    }))

  it.effect("lookups and deletes: StreamNotFound and ConsumerNotFound name what is missing", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const missing = unique().toUpperCase()
      const noStream = yield* reasonOf(topology.ensureConsumer({ stream: missing, name: "c" }))
      assert.deepStrictEqual(noStream._tag === "StreamNotFound" ? noStream.stream : noStream._tag, missing)
      const deleteMissing = yield* reasonOf(topology.deleteStream(missing))
      assert.deepStrictEqual(deleteMissing._tag === "StreamNotFound" ? deleteMissing.stream : deleteMissing._tag, missing)
      const stream = unique().toUpperCase()
      yield* topology.ensureStream({ name: stream, subjects: [`${unique()}.>`] })
      for (const effect of [topology.consumerConfig(stream, "nobody"), topology.deleteConsumer(stream, "nobody")]) {
        const reason = yield* reasonOf(effect)
        assert.deepStrictEqual(
          reason._tag === "ConsumerNotFound" ? [reason.stream, reason.consumer] : reason._tag,
          [stream, "nobody"]
        )
      }
      assert.strictEqual((yield* reasonOf(topology.consumerConfig(missing, "c")))._tag, "StreamNotFound")
      yield* topology.ensureConsumer({ stream, name: "c" })
      yield* topology.deleteConsumer(stream, "c")
      assert.strictEqual((yield* reasonOf(topology.consumerConfig(stream, "c")))._tag, "ConsumerNotFound")
      yield* topology.deleteStream(stream)
      assert.isFalse((yield* topology.listStreams).some((s) => s.name === stream))
      assert.strictEqual((yield* reasonOf(topology.deleteStream(stream)))._tag, "StreamNotFound")
    }))

  it.effect("listStreams returns every stream, over several pages", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      const m = yield* manager
      const p = unique()
      const names = Array.from({ length: 300 }, (_, i) => `${p.toUpperCase()}_${i}`)
      yield* Effect.forEach(
        names,
        (name, i) => Effect.promise(() => m.streams.add({ name, subjects: [`${p}.s${i}`], storage: "memory" })),
        { concurrency: 16, discard: true }
      )
      const listed = (yield* topology.listStreams).filter((s) => s.name.startsWith(`${p.toUpperCase()}_`))
      assert.deepStrictEqual(listed.map((s) => s.name).sort(), [...names].sort())
      assert.deepStrictEqual(listed.find((s) => s.name === names[299])?.subjects, [`${p}.s299`])
      yield* Effect.forEach(names, (name) => topology.deleteStream(name), { concurrency: 16, discard: true })
    }))
})
