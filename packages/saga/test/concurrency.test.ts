/**
 * Events of one instance applied at the same time, through the engine, on
 * every store: each one applied exactly once, the version advanced once per
 * event, conflicts retried against the newer state.
 */
import { IdGenerator } from "@herald/identity"
import { Outbox, OutboxRelay } from "@herald/outbox"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { EventLog, Message, Topology } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Saga, SagaEngine, SagaMemory, SagaStore } from "../src/index.ts"
import { sqlStore } from "./sqlHarness.ts"

const Opened = Message.event("tally.Opened", Schema.Struct({ key: Schema.String }))
const Added = Message.event("tally.Added", Schema.Struct({ key: Schema.String, n: Schema.Number }))
const Noted = Message.command("tally.Note", Schema.Struct({ key: Schema.String, n: Schema.Number }))

const tally = Saga.make({
  name: "tally",
  state: Schema.Struct({ sum: Schema.Number, seen: Schema.Array(Schema.Number) }),
  initial: { sum: 0, seen: [] },
  on: (on) => [
    on(Opened, (state) => Saga.transition(state), { starts: true, correlate: (p) => p.key }),
    on(Added, (state, added) =>
      // yield between the load and the commit, so that concurrent events interleave
      Effect.as(
        Effect.yieldNow,
        Saga.transition({ sum: state.sum + added.n, seen: [...state.seen, added.n] }, {
          send: [Saga.send("tally.cmd.note", Noted, { key: added.key, n: added.n })]
        })
      ), { correlate: (p) => p.key })
  ]
})

const stores = {
  memory: () => SagaMemory.layer.pipe(Layer.provideMerge(MemoryTransport.layer), Layer.merge(IdGenerator.layer)),
  sqlite: () =>
    OutboxRelay.layer().pipe(
      Layer.provideMerge(sqlStore()),
      Layer.provideMerge(Layer.merge(MemoryTransport.layer, IdGenerator.layer)),
      Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))
    ),
  pg: () =>
    OutboxRelay.layer().pipe(
      Layer.provideMerge(sqlStore()),
      Layer.provideMerge(Layer.merge(MemoryTransport.layer, IdGenerator.layer)),
      Layer.provideMerge(TestDatabase.layerPg())
    )
}

describe("concurrent events of one instance", () => {
  for (const [name, fresh] of Object.entries(stores)) {
    it.live(`${name}: two at once are both applied, the version advanced twice; twenty at once, each once`, () =>
      Effect.gen(function*() {
        yield* Topology.ensure({ streams: [{ name: "TALLY", subjects: ["tally.>"] }] })
        const open = yield* Opened.root({ key: "k" })
        yield* SagaEngine.handle(tally, open, { subject: "tally.evt.opened" })
        const pair = yield* Effect.forEach([1, 2], (n) => Added.root({ key: "k", n }))
        const outcomes = yield* Effect.all(
          pair.map((e) => SagaEngine.handle(tally, e, { subject: "tally.evt.added" })),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Applied", "Applied"])
        const store = yield* SagaStore.SagaStore
        const afterPair = Option.getOrThrow(yield* store.load("tally", "k"))
        assert.strictEqual(afterPair.version, 3)
        assert.strictEqual((afterPair.state as { sum: number }).sum, 3)

        const many = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i + 3), (n) => Added.root({ key: "k", n }))
        const all = yield* Effect.all(
          many.map((e) => SagaEngine.handle(tally, e, { subject: "tally.evt.added" }, { conflictRetries: 100 })),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(all.filter((o) => o._tag === "Applied").length, 20)
        const final = Option.getOrThrow(yield* store.load("tally", "k"))
        assert.strictEqual(final.version, 23)
        const state = final.state as { sum: number; seen: ReadonlyArray<number> }
        assert.strictEqual(state.sum, 3 + (3 + 22) * 20 / 2)
        assert.deepStrictEqual([...state.seen].sort((a, b) => a - b), Array.from({ length: 22 }, (_, i) => i + 1))
        const history = yield* store.history("tally", "k")
        assert.deepStrictEqual(history.map((h) => h.version), Array.from({ length: 23 }, (_, i) => i + 1))
        // one command per event: 22, no more
        assert.strictEqual(history.flatMap((h) => h.outgoing).length, 22)
        // the same events again: duplicates, nothing changes
        const again = yield* Effect.all(
          [...pair, ...many].map((e) => SagaEngine.handle(tally, e, { subject: "tally.evt.added" })),
          { concurrency: "unbounded" }
        )
        assert.isTrue(again.every((o) => o._tag === "Duplicate"))
        assert.strictEqual(Option.getOrThrow(yield* store.load("tally", "k")).version, 23)
        // in the stream (appended by the store, or by the outbox relay): each command exactly once
        const outbox = yield* Effect.serviceOption(Outbox.Outbox)
        if (Option.isSome(outbox)) {
          yield* Wait.until(outbox.value.status, (s) => s.pending === 0 && s.sent === 22, "the outbox relayed every command")
        }
        const log = yield* EventLog.EventLog
        const stored = Array.from(yield* Stream.runCollect(log.read("TALLY")))
        assert.strictEqual(stored.length, 22)
        assert.strictEqual((yield* log.info("TALLY")).messages, 22)
        assert.strictEqual(new Set(stored.map((m) => m.envelope.identity.messageId)).size, 22)
      }).pipe(Effect.provide(fresh())), 60_000)
  }
})
