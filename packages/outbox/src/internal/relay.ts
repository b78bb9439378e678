/**
 * The relay engine: claim a batch, append it (pipelined across keys, in order
 * within a key), settle it in a few statements.
 *
 * @since 0.1.0
 * @internal
 */
import { type EventLog, Millis, TransportError, Wire } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as OutboxError from "../OutboxError.ts"
import type * as OutboxStore from "../OutboxStore.ts"

export interface Appended {
  readonly message: OutboxStore.ClaimedMessage
  readonly result: EventLog.AppendResult
}

export interface Resolved {
  readonly relays: number
  readonly batchSize: number
  readonly leaseMillis: number
  readonly pollMillis: number
  readonly listen: boolean
  readonly concurrency: number
  readonly batchesInFlight: number
  readonly appendOptions: EventLog.AppendOptions | undefined
  readonly retryDelay: (attempts: number, error: TransportError.TransportError) => number
  readonly maxAttempts: number | undefined
  readonly retentionMillis: number | undefined
  readonly cleanupMillis: number
  readonly cleanupBatch: number
  readonly shutdownMillis: number
  readonly name: string
  readonly beforeMarkSent: ((appended: ReadonlyArray<Appended>) => Effect.Effect<void>) | undefined
}

export interface MutableStats {
  claimed: number
  published: number
  duplicates: number
  failed: number
  parked: number
  released: number
  batches: number
  deleted: number
  errors: number
  lastError: string | undefined
  lastErrorAt: number | undefined
}

export const emptyStats = (): MutableStats => ({
  claimed: 0,
  published: 0,
  duplicates: 0,
  failed: 0,
  parked: 0,
  released: 0,
  batches: 0,
  deleted: 0,
  errors: 0,
  lastError: undefined,
  lastErrorAt: undefined
})

/** The default backoff: retryable failures double from `base` up to `max`; others wait `nonRetryable`. */
export const defaultRetryDelay = (base: number, max: number, nonRetryable: number) =>
(attempts: number, error: TransportError.TransportError): number => {
  if (!error.isRetryable) return nonRetryable
  const exponent = Math.min(Math.max(attempts - 1, 0), 30)
  return Math.min(base * 2 ** exponent, max)
}

/** Wraps a user's `retryDelay` so that a bad answer falls back to the default. */
export const userRetryDelay = (
  f: (attempts: number, error: TransportError.TransportError) => Duration.Input,
  fallback: (attempts: number, error: TransportError.TransportError) => number
) =>
(attempts: number, error: TransportError.TransportError): number =>
  Millis.orElse(f(attempts, error), fallback(attempts, error))

/**
 * Splits a batch (in id order) into tasks, in id order of their first
 * message: a message without a key, or the chain of a key's messages.
 */
const tasksOf = (rows: ReadonlyArray<OutboxStore.ClaimedMessage>) => {
  const tasks: Array<OutboxStore.ClaimedMessage | Array<OutboxStore.ClaimedMessage>> = []
  let byKey: Map<string, Array<OutboxStore.ClaimedMessage>> | undefined
  for (const row of rows) {
    if (row.partitionKey === undefined) {
      tasks.push(row)
      continue
    }
    byKey ??= new Map()
    const chain = byKey.get(row.partitionKey)
    if (chain === undefined) {
      const fresh = [row]
      byKey.set(row.partitionKey, fresh)
      tasks.push(fresh)
    } else chain.push(row)
  }
  return tasks
}

/** Deletes sent messages older than `retentionMillis`, in rounds of `batch`; answers how many. */
export const deleteExpired = (
  store: OutboxStore.OutboxStore["Service"],
  retentionMillis: number | undefined,
  batch: number
): Effect.Effect<number, OutboxError.OutboxError> =>
  Effect.gen(function*() {
    if (retentionMillis === undefined) return 0
    const before = (yield* Clock.currentTimeMillis) - retentionMillis
    let total = 0
    while (true) {
      const n = yield* store.deleteSent(before, batch)
      total += n
      if (n < batch) return total
    }
  })

const isChain = (
  task: OutboxStore.ClaimedMessage | ReadonlyArray<OutboxStore.ClaimedMessage>
): task is ReadonlyArray<OutboxStore.ClaimedMessage> => Array.isArray(task)

/** What appending a batch did, to settle. */
export interface Outcome {
  readonly sent: Array<number>
  /** Filled only when there is a `beforeMarkSent` hook. */
  readonly appended: Array<Appended>
  readonly failed: Array<{ readonly message: OutboxStore.ClaimedMessage; readonly error: TransportError.TransportError }>
  readonly corrupt: Array<number>
  readonly released: Array<number>
  duplicates: number
}

export interface Engine {
  readonly claim: (owner: string) => Effect.Effect<ReadonlyArray<OutboxStore.ClaimedMessage>, OutboxError.OutboxError>
  readonly appendBatch: (rows: ReadonlyArray<OutboxStore.ClaimedMessage>) => Effect.Effect<Outcome>
  readonly settle: (owner: string, outcome: Outcome) => Effect.Effect<void, OutboxError.OutboxError>
  /** Claims one batch for `owner` and relays it; answers how many messages it claimed. */
  readonly runBatch: (owner: string) => Effect.Effect<number, OutboxError.OutboxError>
  /** Deletes sent messages older than the retention, in rounds of `cleanupBatch`; answers how many. */
  readonly cleanup: Effect.Effect<number, OutboxError.OutboxError>
  readonly stats: MutableStats
  readonly recordError: (what: string, cause: Cause.Cause<unknown>) => Effect.Effect<void>
}

export const make = (
  store: OutboxStore.OutboxStore["Service"],
  eventLog: EventLog.EventLog["Service"],
  options: Resolved
): Engine => {
  const stats = emptyStats()

  const recordError = (what: string, cause: Cause.Cause<unknown>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const error = Cause.squash(cause)
      stats.errors++
      stats.lastError = `${what}: ${TransportError.describe(error)}`
      stats.lastErrorAt = now
      return Effect.logWarning(`outbox relay: ${what} failed`, cause).pipe(
        Effect.annotateLogs({ store: store.describe })
      )
    })

  const hook = options.beforeMarkSent

  /** Appends a claimed batch: chains concurrently, each chain in order, stopping at its first failure. */
  const appendBatch = (rows: ReadonlyArray<OutboxStore.ClaimedMessage>): Effect.Effect<Outcome> =>
    Effect.suspend(() => {
    const outcome: Outcome = { sent: [], appended: [], failed: [], corrupt: [], released: [], duplicates: 0 }

    // Answers whether the message was appended; records the outcome either way.
    const appendOne = (message: OutboxStore.ClaimedMessage): Effect.Effect<boolean> => {
      if (message.raw.headers[Wire.HeaderNames.natsMsgId] !== message.messageId) {
        // The stored headers are corrupt: appending would lose the dedupe id. Park it, never drop it.
        outcome.corrupt.push(message.id)
        return Effect.succeed(false)
      }
      return Effect.match(eventLog.appendRaw(message.subject, message.raw, options.appendOptions), {
        onFailure: (error) => {
          outcome.failed.push({ message, error })
          return false
        },
        onSuccess: (result) => {
          outcome.sent.push(message.id)
          if (hook !== undefined) outcome.appended.push({ message, result })
          if (result.duplicate) outcome.duplicates++
          return true
        }
      })
    }

    // A later message of a key must not overtake an earlier one: after a failure, the rest go back untried.
    const runChain = (chain: ReadonlyArray<OutboxStore.ClaimedMessage>, i: number): Effect.Effect<void> =>
      Effect.flatMap(appendOne(chain[i]!), (ok) => {
        if (!ok) {
          for (let j = i + 1; j < chain.length; j++) outcome.released.push(chain[j]!.id)
          return Effect.void
        }
        return i + 1 < chain.length ? runChain(chain, i + 1) : Effect.void
      })

    const appendAll = Effect.forEach(
      tasksOf(rows),
      (task) => isChain(task) ? runChain(task, 0) : appendOne(task),
      { concurrency: options.concurrency, discard: true }
    )
    return hook === undefined
      ? Effect.as(appendAll, outcome)
      : appendAll.pipe(Effect.andThen(Effect.suspend(() => hook(outcome.appended))), Effect.as(outcome))
  })

  /** Marks a batch's messages sent (one statement), records its failures, releases what was not tried. */
  const settle = (owner: string, outcome: Outcome) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      let parked = 0
      const failures: Array<OutboxStore.Failure> = []
      for (const { error, message } of outcome.failed) {
        const attempts = message.attempts + 1
        const park = options.maxAttempts !== undefined && attempts >= options.maxAttempts
        if (park) parked++
        failures.push({
          id: message.id,
          error: TransportError.describe(error.reason),
          availableAt: now + options.retryDelay(attempts, error),
          park
        })
      }
      for (const id of outcome.corrupt) {
        parked++
        failures.push({
          id,
          error: `stored headers are corrupt or lack ${Wire.HeaderNames.natsMsgId} = the message id`,
          availableAt: now,
          park: true
        })
      }
      yield* store.markSent(outcome.sent, now)
      if (failures.length > 0) yield* store.markFailed(failures, now)
      if (outcome.released.length > 0) yield* store.release(outcome.released, owner)
      stats.batches++
      stats.published += outcome.sent.length
      stats.duplicates += outcome.duplicates
      stats.failed += failures.length
      stats.parked += parked
      stats.released += outcome.released.length
      if (failures.length > 0) {
        stats.lastError = failures[failures.length - 1]!.error
        stats.lastErrorAt = now
      }
    })

  const claim = (owner: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* store.claim({ owner, now, leaseMillis: options.leaseMillis, limit: options.batchSize })
      stats.claimed += rows.length
      return rows
    })

  const runBatch = (owner: string) =>
    Effect.gen(function*() {
      const rows = yield* claim(owner)
      if (rows.length === 0) return 0
      yield* settle(owner, yield* appendBatch(rows))
      return rows.length
    })

  const cleanup = Effect.tap(
    deleteExpired(store, options.retentionMillis, options.cleanupBatch),
    (n) => Effect.sync(() => {
      stats.deleted += n
    })
  )

  return { claim, appendBatch, settle, runBatch, cleanup, stats, recordError }
}
