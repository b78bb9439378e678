/**
 * The outbox behaviours every store must show, written once and run against
 * the memory store, SQLite and PostgreSQL (each with the in-memory EventLog,
 * wrapped to count appends).
 */
import { assert } from "@effect/vitest"
import { type MemoryTransport, Wait } from "@herald/testing"
import type { EventLog, Topology } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { Outbox, OutboxError, OutboxRelay, OutboxStore } from "../src/index.ts"
import { AppendLog, bodies, ensureStream, envelope, inOrderPerKey, streamMessages } from "./helpers.ts"

export type Services =
  | Outbox.Outbox
  | OutboxStore.OutboxStore
  | EventLog.EventLog
  | Topology.Topology
  | MemoryTransport.MemoryTransport
  | AppendLog

/**
 * Where the suite runs: `env` builds a fresh, empty outbox for one test,
 * providing the suite's services and `R`, needing `X` (which the runner
 * provides: the database of a PostgreSQL suite).
 */
export interface Target<R, X> {
  readonly env: () => Layer.Layer<Services | R, unknown, X>
  /** The unit of work: `sql.withTransaction`, `OutboxMemory.transaction`. */
  readonly transaction: <A, E, R2>(self: Effect.Effect<A, E, R2>) => Effect.Effect<A, unknown, R2 | R | X>
  /** Registers a test under a fresh TestClock. */
  readonly effect: (name: string, f: () => Effect.Effect<void, unknown, X | Scope.Scope>) => void
  /** Registers a test in real time. */
  readonly live: (name: string, f: () => Effect.Effect<void, unknown, X | Scope.Scope>) => void
}

const setup = ensureStream("ORDERS", ["orders.>"])

const storedCount = Effect.map(Effect.service(AppendLog), (log) => log.calls.filter((c) => c.outcome === "stored").length)

export const suite = <R, X>(target: Target<R, X>) => {
  const { transaction } = target
  type Test = () => Effect.Effect<void, unknown, R | X | Services | Scope.Scope>
  const effect = (name: string, f: Test) => target.effect(name, () => Effect.provide(f(), target.env()))
  const live = (name: string, f: Test) => target.live(name, () => Effect.provide(f(), target.env()))

  effect("a committed transaction is published, a rolled-back one never is", () =>
    Effect.gen(function*() {
      yield* setup
      yield* transaction(Effect.gen(function*() {
        yield* Outbox.publish("orders.placed", envelope(1))
        yield* Outbox.publishAll([
          { subject: "orders.placed", envelope: envelope(2) },
          { subject: "orders.placed", envelope: envelope(3) }
        ])
      }))
      const failed = yield* Effect.exit(transaction(Effect.gen(function*() {
        yield* Outbox.publish("orders.placed", envelope(4))
        yield* Outbox.publish("orders.placed", envelope(5))
        return yield* Effect.fail("business rule broken")
      })))
      assert.isTrue(Exit.isFailure(failed))
      // A nested transaction that fails drops only its own messages (a savepoint).
      yield* transaction(Effect.gen(function*() {
        yield* Outbox.publish("orders.placed", envelope(6))
        yield* Effect.ignore(transaction(Effect.andThen(Outbox.publish("orders.placed", envelope(7)), Effect.fail("inner"))))
      }))
      // An interrupted transaction leaves nothing either.
      yield* Effect.exit(transaction(Effect.andThen(Outbox.publish("orders.placed", envelope(8)), Effect.interrupt)))
      assert.strictEqual((yield* Outbox.status).pending, 4)
      const stats = yield* OutboxRelay.drain()
      assert.strictEqual(stats.published, 4)
      const messages = yield* streamMessages("ORDERS")
      assert.deepStrictEqual(bodies(messages).map((p) => p.n).sort(), [1, 2, 3, 6])
      assert.strictEqual(yield* storedCount, 4)
      const status = yield* Outbox.status
      assert.strictEqual(status.pending, 0)
      assert.strictEqual(status.sent, 4)
    }))

  effect("every message is appended exactly once, exactly as enqueued (Nats-Msg-Id = message id)", () =>
    Effect.gen(function*() {
      yield* setup
      const envelopes = Array.from({ length: 250 }, (_, i) => envelope(i + 1))
      yield* Outbox.publishAll(envelopes.map((e) => ({ subject: "orders.placed", envelope: e })))
      const stats = yield* OutboxRelay.drain({ batchSize: 100 })
      assert.strictEqual(stats.published, 250)
      assert.strictEqual(stats.batches, 3)
      assert.strictEqual(stats.duplicates, 0)
      assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
      const messages = yield* streamMessages("ORDERS")
      assert.strictEqual(messages.length, 250)
      const byId = new Map(envelopes.map((e) => [e.identity.messageId as string, e]))
      for (const m of messages) {
        const id = m.raw.headers["Nats-Msg-Id"]!
        assert.strictEqual(id, m.raw.headers["Herald-Message-Id"])
        assert.deepStrictEqual(m.raw.body, byId.get(id)!.body)
      }
      const log = yield* AppendLog
      assert.strictEqual(log.calls.length, 250)
      assert.strictEqual(new Set(log.calls.map((c) => c.messageId)).size, 250)
    }))

  effect("messages of one key keep their order, across batches", () =>
    Effect.gen(function*() {
      yield* setup
      const keys = ["a", "b", "c"]
      const publications = Array.from({ length: 90 }, (_, i) => {
        const key = keys[i % 3]!
        return { subject: `orders.${key}`, envelope: envelope(i + 1, key), partitionKey: key }
      })
      yield* Outbox.publishAll(publications.slice(0, 45))
      for (const p of publications.slice(45)) yield* Outbox.publish(p.subject, p.envelope, p)
      const stats = yield* OutboxRelay.drain({ batchSize: 7 })
      assert.strictEqual(stats.published, 90)
      const payloads = bodies(yield* streamMessages("ORDERS"))
      assert.strictEqual(payloads.length, 90)
      assert.isTrue(inOrderPerKey(payloads))
    }))

  effect("a failure stops its key (later messages wait) and not the other keys", () =>
    Effect.gen(function*() {
      yield* setup
      yield* Outbox.publish("orders.a", envelope(1, "a"), { partitionKey: "a" })
      yield* Outbox.publish("orders.a", envelope(2, "a"), { partitionKey: "a" })
      yield* Outbox.publish("orders.a", envelope(3, "a"), { partitionKey: "a" })
      yield* Outbox.publish("orders.b", envelope(4, "b"), { partitionKey: "b" })
      yield* Outbox.publish("orders.b", envelope(5, "b"), { partitionKey: "b" })
      yield* Outbox.publish("orders.x", envelope(6))
      const log = yield* AppendLog
      log.failNext = 1 // the first append: message 1, the head of key a
      const first = yield* OutboxRelay.drain()
      assert.strictEqual(first.failed, 1)
      assert.strictEqual(first.released, 2)
      assert.strictEqual(first.published, 3)
      assert.deepStrictEqual(bodies(yield* streamMessages("ORDERS")).map((p) => p.n), [4, 5, 6])
      // Key a is blocked until its head's backoff (500 ms) is over.
      assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
      yield* TestClock.adjust("499 millis")
      assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
      yield* TestClock.adjust("1 millis")
      const second = yield* OutboxRelay.drain()
      assert.strictEqual(second.published, 3)
      const payloads = bodies(yield* streamMessages("ORDERS"))
      assert.deepStrictEqual(payloads.map((p) => p.n), [4, 5, 6, 1, 2, 3])
      assert.isTrue(inOrderPerKey(payloads))
    }))

  effect("retries with backoff record the attempts and the last error", () =>
    Effect.gen(function*() {
      yield* setup
      const t0 = yield* Clock.currentTimeMillis
      yield* Outbox.publish("orders.placed", envelope(1))
      const log = yield* AppendLog
      log.failNext = 3
      yield* OutboxRelay.drain()
      let status = yield* Outbox.status
      assert.strictEqual(status.pending, 1)
      assert.strictEqual(status.retrying, 1)
      assert.strictEqual(status.maxAttempts, 1)
      assert.match(status.lastError?.lastError ?? "", /ConnectionError: connection: injected failure/)
      assert.strictEqual(status.lastError?.attempts, 1)
      assert.strictEqual(status.lastError?.availableAt, t0 + 500)
      // 500 ms, then 1 s, then 2 s
      for (const [wait, attempts] of [[500, 2], [1_000, 3]] as const) {
        yield* TestClock.adjust(wait - 1)
        assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
        yield* TestClock.adjust(1)
        assert.strictEqual((yield* OutboxRelay.drain()).failed, 1)
        status = yield* Outbox.status
        assert.strictEqual(status.maxAttempts, attempts)
        assert.strictEqual(status.lastError?.attempts, attempts)
      }
      yield* TestClock.adjust(1_999)
      assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
      yield* TestClock.adjust(1)
      const done = yield* OutboxRelay.drain()
      assert.strictEqual(done.published, 1)
      status = yield* Outbox.status
      assert.strictEqual(status.pending, 0)
      assert.strictEqual(status.retrying, 0)
      assert.isUndefined(status.lastError)
      assert.strictEqual((yield* streamMessages("ORDERS")).length, 1)
      assert.deepStrictEqual(log.calls.map((c) => c.outcome), ["failed", "failed", "failed", "stored"])
    }))

  effect("a non-retryable failure (no stream) waits the long delay, and is never dropped", () =>
    Effect.gen(function*() {
      const t0 = yield* Clock.currentTimeMillis
      yield* Outbox.publish("invoices.created", envelope(1))
      const first = yield* OutboxRelay.drain()
      assert.strictEqual(first.failed, 1)
      const status = yield* Outbox.status
      assert.strictEqual(status.pending, 1)
      assert.match(status.lastError?.lastError ?? "", /^NoStreamForSubject/)
      assert.strictEqual(status.lastError?.availableAt, t0 + 300_000)
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
      yield* ensureStream("INVOICES", ["invoices.>"])
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* OutboxRelay.drain()).published, 1)
      assert.strictEqual((yield* streamMessages("INVOICES")).length, 1)
    }))

  effect("maxAttempts parks a message; it blocks its key until requeued", () =>
    Effect.gen(function*() {
      yield* setup
      yield* Outbox.publish("orders.a", envelope(1, "a"), { partitionKey: "a" })
      yield* Outbox.publish("orders.a", envelope(2, "a"), { partitionKey: "a" })
      yield* Outbox.publish("orders.b", envelope(3, "b"), { partitionKey: "b" })
      const log = yield* AppendLog
      const options: OutboxRelay.Options = { maxAttempts: 2, retryDelay: () => Duration.seconds(1) }
      log.failNext = 1
      yield* OutboxRelay.drain(options) // 1 fails, 3 is sent
      yield* TestClock.adjust("1 second")
      log.failNext = 1
      const second = yield* OutboxRelay.drain(options)
      assert.strictEqual(second.parked, 1)
      let status = yield* Outbox.status
      assert.strictEqual(status.parked, 1)
      assert.strictEqual(status.pending, 1)
      const failures = yield* Outbox.failures()
      assert.strictEqual(failures.length, 1)
      assert.strictEqual(failures[0]!.state, "failed")
      assert.strictEqual(failures[0]!.attempts, 2)
      yield* TestClock.adjust("1 hour")
      assert.strictEqual((yield* OutboxRelay.drain(options)).claimed, 0)
      assert.strictEqual(yield* Outbox.requeue(["no-such-id"]), 0)
      assert.strictEqual(yield* Outbox.requeue(), 1)
      assert.strictEqual((yield* OutboxRelay.drain(options)).published, 2)
      assert.deepStrictEqual(bodies(yield* streamMessages("ORDERS")).map((p) => p.n), [3, 1, 2])
      status = yield* Outbox.status
      assert.strictEqual(status.parked, 0)
      assert.strictEqual(status.sent, 3)
    }))

  effect("a lease held by a dead relay is reclaimed when it expires", () =>
    Effect.gen(function*() {
      yield* setup
      yield* Outbox.publish("orders.placed", envelope(1))
      yield* Outbox.publish("orders.k", envelope(2, "k"), { partitionKey: "k" })
      yield* Outbox.publish("orders.k", envelope(3, "k"), { partitionKey: "k" })
      const store = yield* OutboxStore.OutboxStore
      const now = yield* Clock.currentTimeMillis
      const claimed = yield* store.claim({ owner: "dead", now, leaseMillis: 30_000, limit: 2 })
      assert.deepStrictEqual(claimed.map((m) => m.messageId), [envelope(1).identity.messageId, envelope(2).identity.messageId])
      assert.strictEqual((yield* Outbox.status).leased, 2)
      // 3 is not claimable while 2, the head of its key, is leased.
      assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
      yield* TestClock.adjust("29999 millis")
      assert.strictEqual((yield* OutboxRelay.drain()).claimed, 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* OutboxRelay.drain()).published, 3)
      assert.deepStrictEqual(bodies(yield* streamMessages("ORDERS")).map((p) => p.n), [1, 2, 3])
    }))

  effect("a relay that dies between append and mark-sent: the retry is a duplicate, one copy is stored", () =>
    Effect.gen(function*() {
      yield* setup
      yield* Outbox.publish("orders.placed", envelope(1))
      const crashed = yield* Effect.exit(
        OutboxRelay.drain({ lease: "10 seconds", beforeMarkSent: () => Effect.die("crash") })
      )
      assert.isTrue(Exit.isFailure(crashed))
      assert.strictEqual((yield* streamMessages("ORDERS")).length, 1)
      assert.strictEqual((yield* Outbox.status).pending, 1)
      const restarted = yield* OutboxRelay.drain()
      assert.strictEqual(restarted.published, 1)
      assert.strictEqual(restarted.duplicates, 1)
      assert.strictEqual((yield* streamMessages("ORDERS")).length, 1)
      const log = yield* AppendLog
      assert.deepStrictEqual(log.calls.map((c) => c.outcome), ["stored", "duplicate"])
    }))

  effect("cleanup deletes sent messages older than the retention, and nothing else", () =>
    Effect.gen(function*() {
      yield* setup
      yield* Outbox.publishAll([1, 2, 3].map((n) => ({ subject: "orders.placed", envelope: envelope(n) })))
      yield* OutboxRelay.drain()
      yield* TestClock.adjust("2 hours")
      yield* Outbox.publish("orders.placed", envelope(4))
      yield* OutboxRelay.drain()
      yield* Outbox.publish("orders.placed", envelope(5)) // pending: never deleted
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(yield* OutboxRelay.cleanup("1 hour"), 3)
      const status = yield* Outbox.status
      assert.strictEqual(status.sent, 1)
      assert.strictEqual(status.pending, 1)
      assert.strictEqual(yield* OutboxRelay.cleanup("1 hour"), 0)
      assert.strictEqual(yield* OutboxRelay.cleanup("1 millis"), 1)
    }))

  effect("status reports counts and the oldest pending age", () =>
    Effect.gen(function*() {
      const t0 = yield* Clock.currentTimeMillis
      yield* Outbox.publish("orders.placed", envelope(1))
      yield* TestClock.adjust("90 seconds")
      yield* Outbox.publish("orders.placed", envelope(2))
      const status = yield* Outbox.status
      assert.strictEqual(status.pending, 2)
      assert.strictEqual(status.leased, 0)
      assert.strictEqual(status.oldestPendingAt, t0)
      assert.strictEqual(status.oldestPendingAgeMillis, 90_000)
      assert.isUndefined(status.lastError)
    }))

  effect("invalid subjects and unencodable envelopes are typed errors, and store nothing", () =>
    Effect.gen(function*() {
      const subject = yield* Effect.flip(Outbox.publish("orders.*", envelope(1)))
      assert.strictEqual(subject.reason._tag, "InvalidSubject")
      assert.isFalse(subject.isRetryable)
      const reserved = yield* Effect.flip(
        Outbox.publish("orders.placed", { ...envelope(2), headers: { "Nats-Msg-Id": "x" } })
      )
      assert.strictEqual(reserved.reason._tag, "EncodeError")
      const all = yield* Effect.flip(Outbox.publishAll([
        { subject: "orders.placed", envelope: envelope(3) },
        { subject: "", envelope: envelope(4) }
      ]))
      assert.strictEqual(all.reason._tag, "InvalidSubject")
      assert.strictEqual((yield* Outbox.status).pending, 0)
      const batch = yield* Effect.flip(OutboxRelay.drain({ batchSize: 0 }))
      assert.strictEqual(batch.reason._tag, "InvalidConfig")
      const lease = yield* Effect.flip(OutboxRelay.drain({ lease: "forever" as never }))
      assert.strictEqual(lease.reason._tag, "InvalidConfig")
      const relays = yield* Effect.flip(Layer.build(OutboxRelay.layer({ relays: 0 })))
      assert.strictEqual(relays.reason._tag, "InvalidConfig")
    }))

  effect("bad input of publish / publishAll is a typed error naming the field, never a defect, and stores nothing", () =>
    Effect.gen(function*() {
      yield* setup
      const good = envelope(1)
      const withIdentity = (fields: Record<string, unknown>) => ({ ...good, identity: { ...good.identity, ...fields } })
      // [what, subject, envelope, options, reason, field]
      const cases: ReadonlyArray<readonly [string, unknown, unknown, unknown, string, string | undefined]> = [
        ["no arguments at all", undefined, undefined, undefined, "InvalidInput", "subject"],
        ["an object as the subject", {}, good, undefined, "InvalidInput", "subject"],
        ["a number as the subject", 42, good, undefined, "InvalidInput", "subject"],
        ["a wildcard subject", "orders.>", good, undefined, "InvalidSubject", undefined],
        ["a subject with NUL", "orders.\u0000", good, undefined, "InvalidSubject", undefined],
        ["a subject with a line break", "orders.a\nb", good, undefined, "InvalidSubject", undefined],
        ["no envelope", "orders.placed", undefined, undefined, "InvalidInput", "envelope"],
        ["an empty object as the envelope", "orders.placed", {}, undefined, "InvalidInput", "envelope.identity"],
        ["an empty message id", "orders.placed", withIdentity({ messageId: "" }), undefined, "InvalidInput", "envelope.identity.messageId"],
        ["a message id with a space", "orders.placed", withIdentity({ messageId: "m 1" }), undefined, "InvalidInput", "envelope.identity.messageId"],
        ["a numeric correlation id", "orders.placed", withIdentity({ correlationId: 7 }), undefined, "InvalidInput", "envelope.identity.correlationId"],
        ["a causation id with NUL", "orders.placed", withIdentity({ causationId: "c\u0000" }), undefined, "InvalidInput", "envelope.identity.causationId"],
        ["a string body", "orders.placed", { ...good, body: "{\"n\":1}" }, undefined, "InvalidInput", "envelope.body"],
        ["a body of numbers", "orders.placed", { ...good, body: [1, 2] }, undefined, "InvalidInput", "envelope.body"],
        ["an unknown kind", "orders.placed", { ...good, kind: "rumour" }, undefined, "InvalidInput", "envelope.kind"],
        ["an empty type", "orders.placed", { ...good, type: "" }, undefined, "InvalidInput", "envelope.type"],
        ["a time that is not one", "orders.placed", { ...good, occurredAt: Number.NaN }, undefined, "InvalidInput", "envelope.occurredAt"],
        ["a time past Date's range", "orders.placed", { ...good, occurredAt: 1e20 }, undefined, "InvalidInput", "envelope.occurredAt"],
        ["headers that are not an object", "orders.placed", { ...good, headers: "x" }, undefined, "InvalidInput", "envelope.headers"],
        ["a header value with NUL", "orders.placed", { ...good, headers: { "x-a": "\u0000" } }, undefined, "InvalidInput", "envelope.headers.x-a"],
        ["a header Herald reserves", "orders.placed", { ...good, headers: { "Nats-Msg-Id": "x" } }, undefined, "EncodeError", undefined],
        ["options that are not an object", "orders.placed", good, "key", "InvalidInput", "options"],
        ["a numeric partition key", "orders.placed", good, { partitionKey: 3 }, "InvalidInput", "partitionKey"],
        ["an empty partition key", "orders.placed", good, { partitionKey: "" }, "InvalidInput", "partitionKey"],
        ["a partition key with NUL", "orders.placed", good, { partitionKey: "k\u0000" }, "InvalidInput", "partitionKey"]
      ]
      const untyped = Outbox.publish as (subject: unknown, envelope: unknown, options?: unknown) => Effect.Effect<void, OutboxError.OutboxError, Outbox.Outbox>
      const untypedAll = Outbox.publishAll as (messages: unknown) => Effect.Effect<void, OutboxError.OutboxError, Outbox.Outbox>
      for (const [what, subject, env, options, tag, field] of cases) {
        const exit = yield* Effect.exit(transaction(untyped(subject, env, options)))
        assert.isTrue(Exit.isFailure(exit), what)
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.isTrue(OutboxError.isOutboxError(error), `${what}: a typed error, got ${String(error)}`)
        const reason = (error as OutboxError.OutboxError).reason
        assert.strictEqual(reason._tag, tag, what)
        if (field !== undefined) assert.strictEqual((reason as OutboxError.InvalidInput).field, field, what)
        assert.isFalse((error as OutboxError.OutboxError).isRetryable, what)
        // In publishAll, the same bad message as the third of three: named by its index; the two good ones not stored.
        if (typeof options === "string") continue
        const allExit = yield* Effect.exit(transaction(untypedAll([
          { subject: "orders.placed", envelope: envelope(2) },
          { subject: "orders.placed", envelope: envelope(3), partitionKey: "k" },
          { subject, envelope: env, ...(options !== null && typeof options === "object" ? options : {}) }
        ])))
        assert.isTrue(Exit.isFailure(allExit), `${what} (publishAll)`)
        const allError = Exit.isFailure(allExit) ? Cause.squash(allExit.cause) : undefined
        assert.isTrue(OutboxError.isOutboxError(allError), `${what} (publishAll): a typed error, got ${String(allError)}`)
        const allReason = (allError as OutboxError.OutboxError).reason
        assert.strictEqual(allReason._tag, tag, `${what} (publishAll)`)
        if (field !== undefined) {
          assert.strictEqual((allReason as OutboxError.InvalidInput).field, `messages[2].${field}`, `${what} (publishAll)`)
        }
      }
      for (const [what, messages, field] of [
        ["undefined", undefined, "messages"],
        ["an object", {}, "messages"],
        ["a string", "orders", "messages"],
        ["an array with null", [null], "messages[0]"],
        ["an array with a string", ["orders.placed"], "messages[0]"]
      ] as const) {
        const error = yield* Effect.flip(transaction(untypedAll(messages)))
        assert.isTrue(OutboxError.isOutboxError(error), what)
        assert.strictEqual((error as OutboxError.OutboxError).reason._tag, "InvalidInput", what)
        assert.strictEqual(((error as OutboxError.OutboxError).reason as OutboxError.InvalidInput).field, field, what)
      }
      assert.strictEqual((yield* Outbox.status).pending, 0)
      assert.strictEqual((yield* OutboxRelay.drain()).published, 0)
      assert.strictEqual((yield* streamMessages("ORDERS")).length, 0)
      // A good message still goes through.
      yield* transaction(Outbox.publish("orders.placed", good, { partitionKey: "k" }))
      assert.strictEqual((yield* OutboxRelay.drain()).published, 1)
    }))

  live("a running relay wakes on a commit in this process, not at its poll interval", () =>
    Effect.gen(function*() {
      yield* setup
      const context = yield* Layer.build(OutboxRelay.layer({ relays: 2, pollInterval: "1 hour" }))
      const relay = Context.get(context, OutboxRelay.OutboxRelay)
      assert.strictEqual(relay.owners.length, 2)
      // A first message sent shows the relays past their first claim: from here on only a
      // wake-up (or the poll, an hour away) makes them claim again.
      yield* transaction(Outbox.publish("orders.placed", envelope(1)))
      yield* Wait.until(relay.stats, (s) => s.published === 1, "the first message sent")
      yield* transaction(Outbox.publishAll(
        Array.from({ length: 20 }, (_, i) => ({ subject: "orders.placed", envelope: envelope(i + 2) }))
      ))
      yield* Wait.until(streamMessages("ORDERS"), (m) => m.length === 21, "20 more messages sent without a poll")
      const stats = yield* Wait.until(relay.stats, (s) => s.published === 21, "stats")
      assert.strictEqual(stats.duplicates, 0)
      assert.strictEqual(yield* storedCount, 21)
    }))

  live("closing a relay layer releases the leases it holds", () =>
    Effect.gen(function*() {
      yield* setup
      yield* Outbox.publish("orders.placed", envelope(1))
      const stuck = yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(OutboxRelay.layer({
          pollInterval: "1 hour",
          shutdownTimeout: "10 millis",
          beforeMarkSent: () => Effect.never
        }))
        return yield* Wait.until(Outbox.status, (s) => s.leased === 1, "leased")
      }))
      assert.strictEqual(stuck.leased, 1)
      const after = yield* Outbox.status
      assert.strictEqual(after.leased, 0)
      assert.strictEqual(after.pending, 1)
      const restarted = yield* OutboxRelay.drain()
      assert.strictEqual(restarted.duplicates, 1)
      assert.strictEqual((yield* streamMessages("ORDERS")).length, 1)
    }))
}
