/**
 * An in-memory `OutboxStore` for tests, with the same rules as the SQL store
 * (claims, leases, per-key order, retries, parking, retention) and a unit of
 * work so that "rolled back = never published" holds in memory too:
 *
 * ```ts
 * // the messages are stored when the effect succeeds, and dropped when it fails
 * yield* OutboxMemory.transaction(Effect.gen(function*() {
 *   yield* Outbox.publish("orders.placed", envelope)
 *   yield* Effect.fail("business rule broken") // nothing is stored
 * }))
 * ```
 *
 * Outside `transaction`, an insert is stored at once (as a SQL insert in
 * autocommit mode). Transactions nest: an inner one that fails drops its own
 * messages only (a savepoint). Everything lives in the layer's build: each
 * build is a fresh, empty store.
 *
 * @since 0.1.0
 */
import type { Wire } from "@herald/transport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Signal from "./internal/signal.ts"
import * as OutboxStore from "./OutboxStore.ts"

interface Row {
  readonly id: number
  readonly messageId: string
  readonly subject: string
  readonly raw: Wire.RawMessage
  readonly partitionKey: string | undefined
  readonly createdAt: number
  state: OutboxStore.State
  attempts: number
  lastError: string | undefined
  lastAttemptAt: number | undefined
  availableAt: number
  leaseOwner: string | undefined
  leaseUntil: number | undefined
  sentAt: number | undefined
}

/**
 * The commits waiting for the unit of work of the current fiber to succeed.
 */
const CurrentUnitOfWork = Context.Reference<Array<() => void> | undefined>("@herald/outbox/OutboxMemory/UnitOfWork", {
  defaultValue: () => undefined
})

/**
 * Runs `effect` as a unit of work: the messages it inserts into any memory
 * store are stored, all at once, when it succeeds, and dropped when it fails
 * or is interrupted. Nested calls behave like savepoints.
 *
 * @since 0.1.0
 * @category transactions
 */
export const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.service(CurrentUnitOfWork), (outer) => {
    const commits: Array<() => void> = []
    return Effect.onExit(Effect.provideService(effect, CurrentUnitOfWork, commits), (exit) =>
      Effect.sync(() => {
        if (Exit.isFailure(exit)) return
        if (outer !== undefined) outer.push(...commits)
        else for (const commit of commits) commit()
      }))
  })

/**
 * Introspection of a memory store, for tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface Introspection {
  /** Every stored message with its state, in id order. */
  readonly rows: Effect.Effect<ReadonlyArray<OutboxStore.ClaimedMessage & {
    readonly state: OutboxStore.State
    readonly lastError: string | undefined
    readonly leaseOwner: string | undefined
    readonly leaseUntil: number | undefined
    readonly availableAt: number
    readonly sentAt: number | undefined
  }>>
}

/**
 * Introspection of the memory store of the context.
 *
 * @since 0.1.0
 * @category services
 */
export class OutboxMemory extends Context.Service<OutboxMemory, Introspection>()("@herald/outbox/OutboxMemory") {}

const isDue = (row: Row, now: number): boolean =>
  row.state === "pending" && row.availableAt <= now && (row.leaseUntil === undefined || row.leaseUntil <= now)

const claimedOf = (row: Row): OutboxStore.ClaimedMessage => ({
  id: row.id,
  messageId: row.messageId,
  subject: row.subject,
  raw: row.raw,
  partitionKey: row.partitionKey,
  attempts: row.attempts,
  createdAt: row.createdAt
})

const failedOf = (row: Row): OutboxStore.FailedMessage => ({
  messageId: row.messageId,
  subject: row.subject,
  partitionKey: row.partitionKey,
  state: row.state,
  attempts: row.attempts,
  lastError: row.lastError ?? "",
  lastAttemptAt: row.lastAttemptAt,
  availableAt: row.availableAt,
  createdAt: row.createdAt
})

/**
 * Builds an empty memory store and its introspection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<{
  readonly store: OutboxStore.OutboxStore["Service"]
  readonly introspection: Introspection
}> = Effect.sync(() => {
  // A Map iterates in insertion order, which is id order.
  const rows = new Map<number, Row>()
  let nextId = 1
  const signal = Signal.make()

  const store: OutboxStore.OutboxStore["Service"] = {
    describe: "memory",
    insert: (messages) =>
      Effect.flatMap(Effect.service(CurrentUnitOfWork), (unit) =>
        Effect.sync(() => {
          if (messages.length === 0) return
          const commit = () => {
            for (const m of messages) {
              const id = nextId++
              rows.set(id, {
                id,
                messageId: m.messageId,
                subject: m.subject,
                raw: m.raw,
                partitionKey: m.partitionKey,
                createdAt: m.createdAt,
                state: "pending",
                attempts: 0,
                lastError: undefined,
                lastAttemptAt: undefined,
                availableAt: 0,
                leaseOwner: undefined,
                leaseUntil: undefined,
                sentAt: undefined
              })
            }
            signal.fire()
          }
          if (unit === undefined) commit()
          else unit.push(commit)
        })),
    claim: (r) =>
      Effect.sync(() => {
        // The keys with an unsent message that cannot be claimed (leased, backing off, parked).
        const blocked = new Set<string>()
        for (const row of rows.values()) {
          if (row.partitionKey !== undefined && row.state !== "sent" && !isDue(row, r.now)) blocked.add(row.partitionKey)
        }
        const claimed: Array<OutboxStore.ClaimedMessage> = []
        for (const row of rows.values()) {
          if (claimed.length >= r.limit) break
          if (!isDue(row, r.now) || (row.partitionKey !== undefined && blocked.has(row.partitionKey))) continue
          row.leaseOwner = r.owner
          row.leaseUntil = r.now + r.leaseMillis
          claimed.push(claimedOf(row))
        }
        return claimed
      }),
    markSent: (ids, now) =>
      Effect.sync(() => {
        for (const id of ids) {
          const row = rows.get(id)
          if (row === undefined || row.state !== "pending") continue
          row.state = "sent"
          row.sentAt = now
          row.lastAttemptAt = now
          row.attempts++
          row.leaseOwner = undefined
          row.leaseUntil = undefined
        }
      }),
    markFailed: (failures, now) =>
      Effect.sync(() => {
        for (const f of failures) {
          const row = rows.get(f.id)
          if (row === undefined || row.state !== "pending") continue
          row.state = f.park ? "failed" : "pending"
          row.attempts++
          row.lastError = f.error
          row.lastAttemptAt = now
          row.availableAt = f.availableAt
          row.leaseOwner = undefined
          row.leaseUntil = undefined
        }
      }),
    release: (ids, owner) =>
      Effect.sync(() => {
        for (const id of ids) {
          const row = rows.get(id)
          if (row === undefined || row.state !== "pending" || row.leaseOwner !== owner) continue
          row.leaseOwner = undefined
          row.leaseUntil = undefined
        }
      }),
    releaseOwner: (owner) =>
      Effect.sync(() => {
        let n = 0
        for (const row of rows.values()) {
          if (row.state !== "pending" || row.leaseOwner !== owner) continue
          row.leaseOwner = undefined
          row.leaseUntil = undefined
          n++
        }
        return n
      }),
    deleteSent: (before, limit) =>
      Effect.sync(() => {
        let n = 0
        for (const row of rows.values()) {
          if (n >= limit) break
          if (row.state === "sent" && row.sentAt !== undefined && row.sentAt < before) {
            rows.delete(row.id)
            n++
          }
        }
        return n
      }),
    status: (now) =>
      Effect.sync(() => {
        let pending = 0
        let leased = 0
        let retrying = 0
        let parked = 0
        let sent = 0
        let oldest: number | undefined
        let maxAttempts = 0
        let last: Row | undefined
        for (const row of rows.values()) {
          if (row.state === "sent") {
            sent++
            continue
          }
          if (row.state === "failed") parked++
          else {
            pending++
            if (row.leaseUntil !== undefined && row.leaseUntil > now) leased++
            if (row.attempts > 0) retrying++
            if (oldest === undefined || row.createdAt < oldest) oldest = row.createdAt
          }
          if (row.attempts > maxAttempts) maxAttempts = row.attempts
          if (row.lastError !== undefined && (last === undefined || (row.lastAttemptAt ?? 0) >= (last.lastAttemptAt ?? 0))) {
            last = row
          }
        }
        return {
          pending,
          leased,
          retrying,
          parked,
          sent,
          oldestPendingAt: oldest,
          oldestPendingAgeMillis: oldest === undefined ? 0 : Math.max(0, now - oldest),
          maxAttempts,
          lastError: last === undefined ? undefined : failedOf(last)
        }
      }),
    failures: (limit) =>
      Effect.sync(() =>
        [...rows.values()]
          .filter((row) => row.state !== "sent" && row.lastError !== undefined)
          .sort((a, b) => (b.lastAttemptAt ?? 0) - (a.lastAttemptAt ?? 0) || b.id - a.id)
          .slice(0, limit)
          .map(failedOf)
      ),
    requeue: (now, messageIds) =>
      Effect.sync(() => {
        const wanted = messageIds === undefined ? undefined : new Set(messageIds)
        let n = 0
        for (const row of rows.values()) {
          if (row.state !== "failed" || (wanted !== undefined && !wanted.has(row.messageId))) continue
          row.state = "pending"
          row.availableAt = now
          row.leaseOwner = undefined
          row.leaseUntil = undefined
          n++
        }
        if (n > 0) signal.fire()
        return n
      }),
    wakeups: signal.stream
  }

  const introspection: Introspection = {
    rows: Effect.sync(() =>
      [...rows.values()].map((row) => ({
        ...claimedOf(row),
        state: row.state,
        lastError: row.lastError,
        leaseOwner: row.leaseOwner,
        leaseUntil: row.leaseUntil,
        availableAt: row.availableAt,
        sentAt: row.sentAt
      }))
    )
  }
  return { store, introspection }
})

/**
 * A fresh memory store (`OutboxStore`) and its introspection (`OutboxMemory`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<OutboxStore.OutboxStore | OutboxMemory> = Layer.effectContext(
  Effect.map(make, ({ introspection, store }) =>
    Context.make(OutboxStore.OutboxStore, store).pipe(Context.add(OutboxMemory, introspection)))
)
