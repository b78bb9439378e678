/**
 * The `SagaStore` contract as tests: every store runs this suite (memory
 * over the in-memory EventLog, SQL on PostgreSQL and SQLite with the
 * outbox).
 */
import { assert, layer } from "@effect/vitest"
import { Fixtures } from "@herald/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { SagaError, SagaStore } from "../src/index.ts"

/** An outgoing message as it left the store (memory: appended to the EventLog; SQL: an outbox row). */
export interface Sent {
  readonly subject: string
  readonly messageId: string | undefined
  readonly partitionKey: string | undefined
}

/** How a test sees the outgoing messages a store handed over. */
export class Observed extends Context.Service<Observed, {
  /** Every outgoing message handed over so far, in order (memory: appended by `flush`; SQL: in the outbox). */
  readonly sent: Effect.Effect<ReadonlyArray<Sent>, unknown>
}>()("test/saga/Observed") {}

export interface Harness<S> {
  /** Built once for the suite (a database). */
  readonly shared: Layer.Layer<S, unknown>
  /** A fresh, empty store for one test. */
  readonly fresh: () => Layer.Layer<SagaStore.SagaStore | Observed, unknown, S>
  /** `SagaStore.kind`. */
  readonly kind: string
  /** Whether `flush` appends (memory) or answers 0 (SQL: the outbox relay sends). */
  readonly flushAppends: boolean
  /** The partition key an instance's messages carry (SQL: `<saga>:<id>`). */
  readonly partitionKey: (saga: string, id: string) => string | undefined
}

// ---------------------------------------------------------------------------
// Builders

export const envelope = (n: number, type = "test.Sent") => Fixtures.envelope({ identity: n, type, payload: { n } })

export const trigger = (n: number): SagaStore.Trigger => ({
  messageId: `m-${n}`,
  type: "test.Trigger",
  subject: `in.${n}`,
  stream: "IN",
  streamSequence: n
})

/** The trigger of a fired timeout: its token is the message id. */
export const timeoutTrigger = (token: string): SagaStore.Trigger => ({
  messageId: token,
  type: "test.Timeout",
  subject: "",
  stream: undefined,
  streamSequence: undefined
})

export const timeout = (
  saga: string,
  id: string,
  name: string,
  n: number,
  dueAt: number
): SagaStore.Timeout => {
  const message = Fixtures.envelope({ identity: n, type: `test.Timeout.${name}`, payload: { name } })
  return { saga, id, token: message.identity.messageId, name, dueAt, message: Fixtures.raw(message) }
}

export const outgoing = (n: number, subject = `out.${n}`): SagaStore.Outgoing => ({ subject, envelope: envelope(n) })

export const commitOf = (c: Partial<SagaStore.Commit> & { readonly n: number }): SagaStore.Commit => ({
  saga: c.saga ?? "order",
  id: c.id ?? "o-1",
  expectedVersion: c.expectedVersion ?? 0,
  status: c.status ?? "running",
  state: "state" in c ? c.state : { n: c.n },
  failure: c.failure,
  now: c.now ?? 1_000 * c.n,
  trigger: c.trigger ?? trigger(c.n),
  outgoing: c.outgoing ?? [],
  cancel: c.cancel ?? [],
  schedule: c.schedule ?? [],
  fired: c.fired
})

const store = Effect.service(SagaStore.SagaStore)
const commit = (c: SagaStore.Commit) => Effect.flatMap(store, (s) => s.commit(c))
const load = (saga: string, id: string) => Effect.flatMap(store, (s) => s.load(saga, id))
const history = (saga: string, id: string) => Effect.flatMap(store, (s) => s.history(saga, id))
const timeoutsOf = (saga: string, id: string) => Effect.flatMap(store, (s) => s.timeouts(saga, id))
const sent = Effect.flatMap(Effect.service(Observed), (o) => o.sent)
const flush = Effect.flatMap(store, (s) => s.flush)

const historyEntry = (c: SagaStore.Commit): SagaStore.HistoryEntry => ({
  saga: c.saga,
  id: c.id,
  version: c.expectedVersion + 1,
  trigger: c.trigger,
  status: c.status,
  outgoing: c.outgoing.map((o) => ({ messageId: o.envelope.identity.messageId, type: o.envelope.type, subject: o.subject })),
  scheduled: c.schedule.map((t) => ({ name: t.name, token: t.token, dueAt: t.dueAt })),
  cancelled: c.cancel,
  at: c.now
})

const expectCommitted = (c: SagaStore.Commit) => Effect.map(commit(c), (r) => assert.strictEqual(r, "committed"))

/** Everything a store holds about one instance, to compare before and after a refused commit. */
const snapshot = (saga: string, id: string) =>
  Effect.all({
    instance: load(saga, id),
    history: history(saga, id),
    timeouts: timeoutsOf(saga, id),
    list: Effect.flatMap(store, (s) => s.list()),
    due: Effect.flatMap(store, (s) => s.due(Number.MAX_SAFE_INTEGER, 1_000)),
    flushed: flush,
    sent
  })

// ---------------------------------------------------------------------------

export const storeSuite = <S>(name: string, harness: Harness<S>) =>
  layer(harness.shared, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    const test = <A>(title: string, body: () => Effect.Effect<A, unknown, SagaStore.SagaStore | Observed>) =>
      it.effect(title, () => Effect.provide(body(), harness.fresh()))

    const sentOf = (saga: string, id: string, ...ns: ReadonlyArray<number>): Array<Sent> =>
      ns.map((n) => ({ subject: `out.${n}`, messageId: envelope(n).identity.messageId, partitionKey: harness.partitionKey(saga, id) }))

    test("kind names the store", () => Effect.map(store, (s) => assert.strictEqual(s.kind, harness.kind)))

    test("a new instance commits at version 1, with its trigger processed and one history entry", () =>
      Effect.gen(function*() {
        const s = yield* store
        const c = commitOf({ n: 1, state: { step: "reserve", items: [1, 2] } })
        assert.strictEqual(yield* s.commit(c), "committed")
        assert.deepStrictEqual(
          yield* s.load("order", "o-1"),
          Option.some({
            saga: "order",
            id: "o-1",
            status: "running",
            state: { step: "reserve", items: [1, 2] },
            version: 1,
            createdAt: 1_000,
            updatedAt: 1_000,
            failure: undefined
          })
        )
        assert.deepStrictEqual(yield* s.load("order", "o-2"), Option.none())
        assert.deepStrictEqual(yield* s.load("other", "o-1"), Option.none())
        assert.isTrue(yield* s.processed("order", "m-1"))
        assert.isFalse(yield* s.processed("other", "m-1"))
        assert.isFalse(yield* s.processed("order", "m-2"))
        assert.deepStrictEqual(yield* s.history("order", "o-1"), [historyEntry(c)])
        assert.deepStrictEqual(yield* s.history("order", "o-2"), [])
      }))

    test("each transition with the loaded version commits and adds one to it; createdAt stays", () =>
      Effect.gen(function*() {
        const s = yield* store
        const c1 = commitOf({ n: 1 })
        const c2 = commitOf({ n: 2, expectedVersion: 1, status: "compensating", state: { step: 2 }, failure: "payment refused" })
        const c3 = commitOf({ n: 3, expectedVersion: 2, status: "compensated", state: null })
        for (const c of [c1, c2]) yield* expectCommitted(c)
        assert.deepStrictEqual(
          yield* s.load("order", "o-1"),
          Option.some({
            saga: "order",
            id: "o-1",
            status: "compensating",
            state: { step: 2 },
            version: 2,
            createdAt: 1_000,
            updatedAt: 2_000,
            failure: "payment refused"
          })
        )
        yield* expectCommitted(c3)
        const loaded = yield* s.load("order", "o-1")
        assert.deepStrictEqual(
          loaded,
          Option.some({
            saga: "order",
            id: "o-1",
            status: "compensated",
            state: null,
            version: 3,
            createdAt: 1_000,
            updatedAt: 3_000,
            failure: undefined
          })
        )
        assert.deepStrictEqual(yield* s.history("order", "o-1"), [c1, c2, c3].map(historyEntry))
      }))

    test("a wrong expectedVersion, or a new instance that exists, is a conflict and writes nothing", () =>
      Effect.gen(function*() {
        const s = yield* store
        const a = timeout("order", "o-1", "A", 101, 50_000)
        yield* expectCommitted(commitOf({ n: 1, outgoing: [outgoing(1)], schedule: [a] }))
        const before = yield* snapshot("order", "o-1")
        assert.strictEqual(before.flushed, harness.flushAppends ? 1 : 0)
        assert.deepStrictEqual(before.sent, sentOf("order", "o-1", 1))
        const refused = (n: number, expectedVersion: number) =>
          commitOf({
            n,
            expectedVersion,
            status: "completed",
            outgoing: [outgoing(n)],
            cancel: ["A"],
            schedule: [timeout("order", "o-1", "B", 100 + n, 60_000)]
          })
        for (const [n, expected] of [[2, 0], [3, 2], [4, 7]] as const) {
          assert.strictEqual(yield* s.commit(refused(n, expected)), "conflict")
          assert.isFalse(yield* s.processed("order", `m-${n}`))
        }
        const after = yield* snapshot("order", "o-1")
        assert.strictEqual(after.flushed, 0)
        assert.deepStrictEqual({ ...after, flushed: 1 }, { ...before, flushed: 1 })
        assert.deepStrictEqual(after.timeouts, [a])
        // An instance that does not exist is at version 0.
        assert.strictEqual(yield* s.commit(commitOf({ n: 5, id: "o-2", expectedVersion: 1 })), "conflict")
        assert.deepStrictEqual(yield* s.load("order", "o-2"), Option.none())
        assert.deepStrictEqual(yield* s.history("order", "o-2"), [])
        // The refused triggers were not recorded: they commit once the version is right.
        yield* expectCommitted(refused(3, 1))
        assert.strictEqual(Option.getOrThrow(yield* s.load("order", "o-1")).version, 2)
      }))

    test("a trigger the saga processed before is a duplicate and writes nothing, on any instance of the saga", () =>
      Effect.gen(function*() {
        const s = yield* store
        yield* expectCommitted(commitOf({ n: 1, outgoing: [outgoing(1)] }))
        yield* expectCommitted(commitOf({ n: 2, id: "o-2" }))
        const before = yield* snapshot("order", "o-1")
        const again = (id: string, expectedVersion: number) =>
          commitOf({
            n: 3,
            id,
            trigger: trigger(1),
            expectedVersion,
            outgoing: [outgoing(3)],
            schedule: [timeout("order", id, "A", 103, 9_000)]
          })
        assert.strictEqual(yield* s.commit(again("o-1", 1)), "duplicate")
        assert.strictEqual(yield* s.commit(again("o-1", 0)), "duplicate")
        assert.strictEqual(yield* s.commit(again("o-2", 1)), "duplicate")
        assert.strictEqual(yield* s.commit(again("o-3", 0)), "duplicate")
        const after = yield* snapshot("order", "o-1")
        assert.strictEqual(after.flushed, 0)
        assert.deepStrictEqual({ ...after, flushed: 0 }, { ...before, flushed: 0 })
        assert.deepStrictEqual(yield* s.load("order", "o-3"), Option.none())
        assert.deepStrictEqual(yield* s.timeouts("order", "o-2"), [])
        // Another saga has not processed it.
        yield* expectCommitted(commitOf({ n: 4, saga: "billing", trigger: trigger(1) }))
        assert.isTrue(yield* s.processed("billing", "m-1"))
      }))

    test("a fired timeout must be pending (else conflict, nothing written) and is deleted", () =>
      Effect.gen(function*() {
        const s = yield* store
        const a = timeout("order", "o-1", "A", 101, 5_000)
        const b = timeout("order", "o-1", "B", 102, 6_000)
        yield* expectCommitted(commitOf({ n: 1, schedule: [a, b] }))
        const before = yield* snapshot("order", "o-1")
        const missing = timeout("order", "o-1", "A", 199, 5_000).token
        assert.strictEqual(
          yield* s.commit(
            commitOf({ n: 2, expectedVersion: 1, trigger: timeoutTrigger(missing), fired: missing, outgoing: [outgoing(2)] })
          ),
          "conflict"
        )
        const after = yield* snapshot("order", "o-1")
        assert.deepStrictEqual({ ...after, flushed: 0 }, { ...before, flushed: 0 })
        assert.strictEqual(after.flushed, 0)
        const fire = commitOf({ n: 3, expectedVersion: 1, trigger: timeoutTrigger(a.token), fired: a.token })
        yield* expectCommitted(fire)
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [b])
        assert.deepStrictEqual(yield* s.due(10_000, 10), [b])
        assert.isTrue(yield* s.processed("order", a.token))
        assert.deepStrictEqual((yield* s.history("order", "o-1"))[1], historyEntry(fire))
        // Fired again under another trigger: gone, so a conflict.
        assert.strictEqual(
          yield* s.commit(commitOf({ n: 4, expectedVersion: 2, trigger: trigger(4), fired: a.token })),
          "conflict"
        )
        // A timeout that fires and schedules itself again under its name.
        const b2 = timeout("order", "o-1", "B", 105, 16_000)
        yield* expectCommitted(
          commitOf({ n: 5, expectedVersion: 2, trigger: timeoutTrigger(b.token), fired: b.token, schedule: [b2] })
        )
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [b2])
        assert.strictEqual(Option.getOrThrow(yield* s.load("order", "o-1")).version, 3)
      }))

    test("scheduling a pending name replaces it; timeouts() answers the instance's, earliest first", () =>
      Effect.gen(function*() {
        const s = yield* store
        const a1 = timeout("order", "o-1", "A", 101, 5_000)
        const b = timeout("order", "o-1", "B", 102, 6_000)
        const other = timeout("order", "o-2", "A", 103, 1_000)
        yield* expectCommitted(commitOf({ n: 1, schedule: [b, a1] }))
        yield* expectCommitted(commitOf({ n: 2, id: "o-2", schedule: [other] }))
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [a1, b])
        const a2 = timeout("order", "o-1", "A", 104, 7_000)
        const replace = commitOf({ n: 3, expectedVersion: 1, schedule: [a2] })
        yield* expectCommitted(replace)
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [b, a2])
        assert.deepStrictEqual(yield* s.timeouts("order", "o-2"), [other])
        assert.deepStrictEqual(yield* s.timeouts("order", "o-3"), [])
        assert.deepStrictEqual(yield* s.due(100_000, 10), [other, b, a2])
        assert.deepStrictEqual((yield* s.history("order", "o-1"))[1]!.scheduled, [{ name: "A", token: a2.token, dueAt: 7_000 }])
        assert.deepStrictEqual((yield* s.history("order", "o-1"))[1]!.cancelled, [])
      }))

    test("cancel deletes the instance's pending timeouts by name, and no other instance's", () =>
      Effect.gen(function*() {
        const s = yield* store
        const a = timeout("order", "o-1", "A", 101, 5_000)
        const b = timeout("order", "o-1", "B", 102, 6_000)
        const c = timeout("order", "o-1", "C", 103, 7_000)
        const otherA = timeout("order", "o-2", "A", 104, 5_500)
        const billingA = timeout("billing", "o-1", "A", 105, 5_600)
        yield* expectCommitted(commitOf({ n: 1, schedule: [a, b, c] }))
        yield* expectCommitted(commitOf({ n: 2, id: "o-2", schedule: [otherA] }))
        yield* expectCommitted(commitOf({ n: 3, saga: "billing", schedule: [billingA] }))
        const cancel = commitOf({ n: 4, expectedVersion: 1, cancel: ["A", "C", "never-scheduled"] })
        yield* expectCommitted(cancel)
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [b])
        assert.deepStrictEqual(yield* s.timeouts("order", "o-2"), [otherA])
        assert.deepStrictEqual(yield* s.timeouts("billing", "o-1"), [billingA])
        assert.deepStrictEqual((yield* s.history("order", "o-1"))[1], historyEntry(cancel))
        // Cancel and schedule the same name in one commit: the new one stays.
        const b2 = timeout("order", "o-1", "B", 106, 9_000)
        yield* expectCommitted(commitOf({ n: 5, expectedVersion: 2, cancel: ["B"], schedule: [b2] }))
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [b2])
      }))

    test("due answers timeouts at or before now, earliest first (then by token), at most limit, of one saga when given", () =>
      Effect.gen(function*() {
        const s = yield* store
        const t1 = timeout("order", "o-1", "A", 101, 100)
        const t2 = timeout("billing", "b-1", "A", 102, 200)
        const t3 = timeout("order", "o-2", "A", 103, 300)
        const t4 = timeout("order", "o-1", "B", 104, 300)
        const t5 = timeout("billing", "b-1", "B", 105, 400)
        yield* expectCommitted(commitOf({ n: 1, schedule: [t4, t1] }))
        yield* expectCommitted(commitOf({ n: 2, id: "o-2", schedule: [t3] }))
        yield* expectCommitted(commitOf({ n: 3, saga: "billing", id: "b-1", schedule: [t5, t2] }))
        // t3 and t4 are due together: token order (ids 103 < 104).
        assert.isTrue(t3.token < t4.token)
        assert.deepStrictEqual(yield* s.due(99, 10), [])
        assert.deepStrictEqual(yield* s.due(100, 10), [t1])
        assert.deepStrictEqual(yield* s.due(299, 10), [t1, t2])
        assert.deepStrictEqual(yield* s.due(300, 10), [t1, t2, t3, t4])
        assert.deepStrictEqual(yield* s.due(10_000, 10), [t1, t2, t3, t4, t5])
        assert.deepStrictEqual(yield* s.due(10_000, 3), [t1, t2, t3])
        assert.deepStrictEqual(yield* s.due(10_000, 0), [])
        assert.deepStrictEqual(yield* s.due(10_000, 10, "order"), [t1, t3, t4])
        assert.deepStrictEqual(yield* s.due(10_000, 1, "billing"), [t2])
        assert.deepStrictEqual(yield* s.due(10_000, 10, "shipping"), [])
      }))

    test("list filters by saga and status, in updatedAt order then id, at most limit (default 100)", () =>
      Effect.gen(function*() {
        const s = yield* store
        yield* expectCommitted(commitOf({ n: 1, saga: "s1", id: "a", now: 3_000 }))
        yield* expectCommitted(commitOf({ n: 2, saga: "s1", id: "b", now: 1_000, status: "completed" }))
        yield* expectCommitted(commitOf({ n: 3, saga: "s1", id: "c", now: 2_000, status: "compensating" }))
        yield* expectCommitted(commitOf({ n: 4, saga: "s2", id: "a", now: 2_000 }))
        const keys = (instances: ReadonlyArray<SagaStore.Instance>) => instances.map((i) => `${i.saga}/${i.id}`)
        assert.deepStrictEqual(keys(yield* s.list()), ["s1/b", "s2/a", "s1/c", "s1/a"])
        assert.deepStrictEqual(keys(yield* s.list({})), ["s1/b", "s2/a", "s1/c", "s1/a"])
        assert.deepStrictEqual(keys(yield* s.list({ saga: "s1" })), ["s1/b", "s1/c", "s1/a"])
        assert.deepStrictEqual(keys(yield* s.list({ status: "running" })), ["s2/a", "s1/a"])
        assert.deepStrictEqual(keys(yield* s.list({ saga: "s1", status: "running" })), ["s1/a"])
        assert.deepStrictEqual(keys(yield* s.list({ saga: "s2", status: "completed" })), [])
        assert.deepStrictEqual(keys(yield* s.list({ limit: 2 })), ["s1/b", "s2/a"])
        assert.deepStrictEqual(keys(yield* s.list({ limit: 0 })), [])
        assert.deepStrictEqual(yield* s.list({ saga: "s1", status: "completed" }), [
          {
            saga: "s1",
            id: "b",
            status: "completed",
            state: { n: 2 },
            version: 1,
            createdAt: 1_000,
            updatedAt: 1_000,
            failure: undefined
          }
        ])
        // An update moves an instance to the end.
        yield* expectCommitted(commitOf({ n: 5, saga: "s1", id: "b", expectedVersion: 1, now: 4_000 }))
        assert.deepStrictEqual(keys(yield* s.list({ saga: "s1" })), ["s1/c", "s1/a", "s1/b"])
        // The default limit.
        yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          (i) => expectCommitted(commitOf({ n: 100 + i, saga: "bulk", id: `i-${String(i).padStart(3, "0")}`, now: 10_000 })),
          { discard: true }
        )
        const all = yield* s.list()
        assert.strictEqual(all.length, SagaStore.defaultLimit)
        assert.deepStrictEqual(keys(all).slice(0, 5), ["s2/a", "s1/c", "s1/a", "s1/b", "bulk/i-000"])
        assert.deepStrictEqual(keys(all).at(-1), "bulk/i-095")
        assert.strictEqual((yield* s.list({ saga: "bulk", limit: 1_000 })).length, 100)
      }))

    test("counts answers instances by saga and status, only pairs with instances, of one saga when given", () =>
      Effect.gen(function*() {
        const s = yield* store
        assert.deepStrictEqual(yield* s.counts(), [])
        // s1: 3 running, 1 compensating, 2 completed; s2: 1 running, 1 compensation-failed; "s1.x": 1 compensated.
        const started: ReadonlyArray<readonly [string, string, SagaStore.Status]> = [
          ["s1", "a", "running"],
          ["s1", "b", "running"],
          ["s1", "c", "running"],
          ["s1", "d", "compensating"],
          ["s1", "e", "completed"],
          ["s1", "f", "completed"],
          ["s2", "a", "running"],
          ["s2", "b", "compensation-failed"],
          ["s1.x", "a", "compensated"]
        ]
        yield* Effect.forEach(
          started,
          ([saga, id, status], n) => expectCommitted(commitOf({ n: n + 1, saga, id, status })),
          { discard: true }
        )
        const s1: ReadonlyArray<SagaStore.Count> = [
          { saga: "s1", status: "running", count: 3 },
          { saga: "s1", status: "completed", count: 2 },
          { saga: "s1", status: "compensating", count: 1 }
        ]
        const s1x: ReadonlyArray<SagaStore.Count> = [{ saga: "s1.x", status: "compensated", count: 1 }]
        const s2: ReadonlyArray<SagaStore.Count> = [{ saga: "s2", status: "running", count: 1 }, { saga: "s2", status: "compensation-failed", count: 1 }]
        assert.deepStrictEqual(yield* s.counts(), [...s1, ...s1x, ...s2])
        assert.deepStrictEqual(yield* s.counts("s1"), s1)
        assert.deepStrictEqual(yield* s.counts("s1.x"), s1x)
        assert.deepStrictEqual(yield* s.counts("s3"), [])
        // A transition moves one instance; a status left with none is absent.
        yield* expectCommitted(commitOf({ n: 20, saga: "s1", id: "d", expectedVersion: 1, status: "compensated" }))
        yield* expectCommitted(commitOf({ n: 21, saga: "s1", id: "a", expectedVersion: 1, status: "completed" }))
        assert.deepStrictEqual(yield* s.counts("s1"), [
          { saga: "s1", status: "running", count: 2 },
          { saga: "s1", status: "completed", count: 3 },
          { saga: "s1", status: "compensated", count: 1 }
        ])
        // Deleted instances are no longer counted.
        assert.strictEqual(yield* s.deleteFinished(Number.MAX_SAFE_INTEGER), 6)
        assert.deepStrictEqual(yield* s.counts(), [
          { saga: "s1", status: "running", count: 2 },
          { saga: "s2", status: "running", count: 1 }
        ])
      }))

    test("history answers an instance's transitions oldest first, with their triggers, messages and timeouts", () =>
      Effect.gen(function*() {
        const s = yield* store
        const a = timeout("order", "o-1", "A", 101, 9_000)
        const c1 = commitOf({ n: 1, outgoing: [outgoing(1), outgoing(2)], schedule: [a] })
        const c2 = commitOf({ n: 2, id: "o-2" })
        const c3 = commitOf({
          n: 3,
          expectedVersion: 1,
          status: "compensating",
          outgoing: [{ subject: "out.undo", envelope: envelope(3, "test.Undo") }],
          cancel: ["A"]
        })
        const c4 = commitOf({
          n: 4,
          expectedVersion: 2,
          status: "compensation-failed",
          failure: "refund failed",
          trigger: { messageId: "m-4", type: "test.Failed", subject: "in.4", stream: undefined, streamSequence: undefined }
        })
        for (const c of [c1, c2, c3, c4]) yield* expectCommitted(c)
        const entries = yield* s.history("order", "o-1")
        assert.deepStrictEqual(entries, [c1, c3, c4].map(historyEntry))
        assert.deepStrictEqual(entries.map((e) => e.version), [1, 2, 3])
        assert.deepStrictEqual(entries[0]!.outgoing, [
          { messageId: envelope(1).identity.messageId, type: "test.Sent", subject: "out.1" },
          { messageId: envelope(2).identity.messageId, type: "test.Sent", subject: "out.2" }
        ])
        assert.deepStrictEqual(entries[1]!.outgoing, [
          { messageId: envelope(3).identity.messageId, type: "test.Undo", subject: "out.undo" }
        ])
        assert.deepStrictEqual(entries[1]!.cancelled, ["A"])
        assert.deepStrictEqual(yield* s.history("order", "o-2"), [historyEntry(c2)])
        assert.deepStrictEqual(yield* s.history("billing", "o-1"), [])
      }))

    test("deleteFinished deletes finished instances updated before the cutoff, with their timeouts and history", () =>
      Effect.gen(function*() {
        const s = yield* store
        const finish = (id: string, status: SagaStore.Status, now: number, n: number) =>
          Effect.gen(function*() {
            const pending = timeout("order", id, "T", 100 + n, 100_000 + n)
            yield* expectCommitted(commitOf({ n, id, now: now - 1, schedule: [pending] }))
            yield* expectCommitted(commitOf({ n: n + 1, id, now, expectedVersion: 1, status }))
            return pending
          })
        yield* finish("a", "completed", 1_000, 10)
        yield* finish("b", "compensated", 1_500, 20)
        const c = yield* finish("c", "compensation-failed", 3_000, 30)
        const d = yield* finish("d", "running", 500, 40)
        const e = yield* finish("e", "compensating", 500, 50)
        const f = yield* finish("f", "completed", 2_000, 60)
        yield* expectCommitted(commitOf({ n: 70, saga: "billing", id: "a", now: 1_000, status: "completed" }))
        assert.strictEqual(yield* s.deleteFinished(2_000), 3)
        for (const [saga, id] of [["order", "a"], ["order", "b"], ["billing", "a"]] as const) {
          assert.deepStrictEqual(yield* s.load(saga, id), Option.none())
          assert.deepStrictEqual(yield* s.history(saga, id), [])
          assert.deepStrictEqual(yield* s.timeouts(saga, id), [])
        }
        // their processed messages are forgotten with them; the others' are kept
        assert.deepStrictEqual(
          yield* Effect.forEach([10, 11, 70, 60, 61], (n) => s.processed(n === 70 ? "billing" : "order", `m-${n}`)),
          [false, false, false, true, true]
        )
        assert.deepStrictEqual((yield* s.list()).map((i) => i.id), ["d", "e", "f", "c"])
        assert.deepStrictEqual(yield* s.due(Number.MAX_SAFE_INTEGER, 100), [c, d, e, f])
        for (const id of ["c", "d", "e", "f"]) assert.strictEqual((yield* s.history("order", id)).length, 2)
        assert.strictEqual(yield* s.deleteFinished(2_000), 0)
        assert.strictEqual(yield* s.deleteFinished(3_001), 2)
        assert.deepStrictEqual((yield* s.list()).map((i) => i.id), ["d", "e"])
        assert.deepStrictEqual(yield* s.due(Number.MAX_SAFE_INTEGER, 100), [d, e])
      }))

    test("outgoing messages are handed over exactly as committed, in commit order, exactly once", () =>
      Effect.gen(function*() {
        const s = yield* store
        const c1 = commitOf({ n: 1, outgoing: [outgoing(1), outgoing(2)] })
        const c2 = commitOf({ n: 2, id: "o-2", outgoing: [outgoing(3)] })
        const c3 = commitOf({ n: 3, expectedVersion: 1, outgoing: [outgoing(4), outgoing(5)] })
        for (const c of [c1, c2, c3]) yield* expectCommitted(c)
        assert.strictEqual(yield* s.flush, harness.flushAppends ? 5 : 0)
        const expected = [
          ...sentOf("order", "o-1", 1, 2),
          ...sentOf("order", "o-2", 3),
          ...sentOf("order", "o-1", 4, 5)
        ]
        assert.deepStrictEqual(yield* sent, expected)
        assert.strictEqual(yield* s.flush, 0)
        assert.deepStrictEqual(yield* sent, expected)
        // A duplicate and a conflict hand nothing over.
        assert.strictEqual(yield* s.commit(commitOf({ n: 3, expectedVersion: 2, outgoing: [outgoing(6)] })), "duplicate")
        assert.strictEqual(yield* s.commit(commitOf({ n: 4, expectedVersion: 1, outgoing: [outgoing(7)] })), "conflict")
        yield* expectCommitted(commitOf({ n: 5, expectedVersion: 2, outgoing: [outgoing(8)] }))
        assert.strictEqual(yield* s.flush, harness.flushAppends ? 1 : 0)
        assert.deepStrictEqual(yield* sent, [...expected, ...sentOf("order", "o-1", 8)])
      }))

    test("an outgoing message on an invalid subject is an InvalidTransition, and nothing is written", () =>
      Effect.gen(function*() {
        const s = yield* store
        yield* expectCommitted(commitOf({ n: 1, outgoing: [outgoing(1)] }))
        const before = yield* snapshot("order", "o-1")
        for (const subject of ["out.*", "out..x", ""]) {
          const error = yield* Effect.flip(
            s.commit(commitOf({ n: 2, expectedVersion: 1, outgoing: [outgoing(2), outgoing(3, subject)] }))
          )
          assert.isTrue(SagaError.isSagaError(error))
          assert.strictEqual(error.reason._tag, "InvalidTransition")
          assert.isFalse(error.isRetryable)
        }
        assert.isFalse(yield* s.processed("order", "m-2"))
        const after = yield* snapshot("order", "o-1")
        assert.strictEqual(after.flushed, 0)
        assert.deepStrictEqual({ ...after, flushed: 0 }, { ...before, flushed: 0 })
        assert.deepStrictEqual(after.sent, sentOf("order", "o-1", 1))
      }))

    test("20 concurrent commits from the same version: exactly one commits, the others conflict", () =>
      Effect.gen(function*() {
        const s = yield* store
        // A new instance.
        const fresh = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => s.commit(commitOf({ n: 100 + i, outgoing: [outgoing(100 + i)] }))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(fresh.filter((r) => r === "committed").length, 1)
        assert.strictEqual(fresh.filter((r) => r === "conflict").length, 19)
        const first = 100 + fresh.indexOf("committed")
        // An existing one.
        const next = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) =>
            s.commit(commitOf({ n: 200 + i, expectedVersion: 1, outgoing: [outgoing(200 + i)] }))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(next.filter((r) => r === "committed").length, 1)
        assert.strictEqual(next.filter((r) => r === "conflict").length, 19)
        const second = 200 + next.indexOf("committed")
        const instance = Option.getOrThrow(yield* s.load("order", "o-1"))
        assert.strictEqual(instance.version, 2)
        assert.deepStrictEqual(instance.state, { n: second })
        assert.deepStrictEqual((yield* s.history("order", "o-1")).map((e) => e.trigger.messageId), [`m-${first}`, `m-${second}`])
        for (let n = 100; n < 220; n++) {
          if (n >= 120 && n < 200) continue
          assert.strictEqual(yield* s.processed("order", `m-${n}`), n === first || n === second)
        }
        assert.strictEqual(yield* s.flush, harness.flushAppends ? 2 : 0)
        assert.deepStrictEqual(yield* sent, sentOf("order", "o-1", first, second))
      }))

    test("the same trigger committed 20 times at once: exactly one commits, the others are duplicates", () =>
      Effect.gen(function*() {
        const s = yield* store
        const results = yield* Effect.all(
          Array.from({ length: 20 }, () => s.commit(commitOf({ n: 1, outgoing: [outgoing(1)] }))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter((r) => r === "committed").length, 1)
        assert.strictEqual(results.filter((r) => r === "duplicate").length, 19)
        const again = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) =>
            s.commit(commitOf({ n: 2, id: `o-${i + 2}`, outgoing: [outgoing(2)] }))),
          { concurrency: "unbounded" }
        )
        // One trigger, twenty instances of one saga: it is processed once by the saga.
        assert.strictEqual(again.filter((r) => r === "committed").length, 1)
        assert.strictEqual(again.filter((r) => r === "duplicate").length, 19)
        assert.strictEqual((yield* s.list()).length, 2)
        assert.strictEqual(Option.getOrThrow(yield* s.load("order", "o-1")).version, 1)
        assert.strictEqual((yield* s.history("order", "o-1")).length, 1)
        assert.strictEqual(yield* s.flush, harness.flushAppends ? 2 : 0)
        const owner = `o-${again.indexOf("committed") + 2}`
        assert.deepStrictEqual(yield* sent, [...sentOf("order", "o-1", 1), ...sentOf("order", owner, 2)])
      }))
  })
