/**
 * An in-memory `SagaStore`, for tests and single-process applications whose
 * sagas need not survive the process.
 *
 * A commit is atomic (one synchronous update of the maps). Outgoing messages
 * wait in a queue with the instance and are appended to the `EventLog` of
 * the context by `flush` (the engine flushes after each commit, and the
 * runner on every tick), in commit order, one at a time; a message whose
 * append fails stays at the head of the queue and is tried again by the next
 * flush, with the same message id.
 *
 * @since 0.1.0
 */
import { Subject } from "@herald/subject"
import { EventLog, Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Semaphore from "effect/Semaphore"
import * as SagaError from "./SagaError.ts"
import * as SagaStore from "./SagaStore.ts"

const keyOf = (saga: string, id: string) => `${saga}\u0000${id}`

interface Pending {
  readonly subject: string
  readonly raw: Wire.RawMessage
}

/**
 * Builds an empty memory store over the `EventLog` of the context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<SagaStore.SagaStore["Service"], never, EventLog.EventLog> = Effect.gen(function*() {
  const log = yield* EventLog.EventLog
  const instances = new Map<string, SagaStore.Instance>()
  // (saga, message id) → the instance that processed it
  const processed = new Map<string, string>()
  const history = new Map<string, Array<SagaStore.HistoryEntry>>()
  const timeouts = new Map<string, SagaStore.Timeout>()
  const queue: Array<Pending> = []
  const flushLock = yield* Semaphore.make(1)

  const timeoutsOf = (saga: string, id: string) =>
    [...timeouts.values()].filter((t) => t.saga === saga && t.id === id).sort((a, b) => a.dueAt - b.dueAt)

  const commit = (c: SagaStore.Commit): Effect.Effect<SagaStore.CommitResult, SagaError.SagaError> =>
    Effect.suspend(() => {
      const encoded: Array<Pending> = []
      for (const o of c.outgoing) {
        // A subject the EventLog refuses would stay at the head of the queue, holding back every later message.
        const subject = Subject.make(o.subject)
        if (subject._tag === "Failure") {
          return Effect.fail(
            SagaError.make(
              new SagaError.InvalidTransition({
                saga: c.saga,
                id: c.id,
                detail: `outgoing ${o.envelope.type} on ${o.subject}: ${subject.failure.message}`,
                cause: subject.failure
              })
            )
          )
        }
        const raw = Wire.encode(o.envelope)
        if (raw._tag === "Failure") {
          return Effect.fail(
            SagaError.make(
              new SagaError.InvalidTransition({
                saga: c.saga,
                id: c.id,
                detail: `outgoing ${o.envelope.type} on ${o.subject}: ${raw.failure.message}`,
                cause: raw.failure
              })
            )
          )
        }
        encoded.push({ subject: o.subject, raw: raw.success })
      }
      const key = keyOf(c.saga, c.id)
      if (processed.has(keyOf(c.saga, c.trigger.messageId))) return Effect.succeed("duplicate" as const)
      const current = instances.get(key)
      if ((current?.version ?? 0) !== c.expectedVersion) return Effect.succeed("conflict" as const)
      if (c.fired !== undefined && !timeouts.has(c.fired)) return Effect.succeed("conflict" as const)
      const version = c.expectedVersion + 1
      instances.set(key, {
        saga: c.saga,
        id: c.id,
        status: c.status,
        state: c.state,
        version,
        createdAt: current?.createdAt ?? c.now,
        updatedAt: c.now,
        failure: c.failure
      })
      processed.set(keyOf(c.saga, c.trigger.messageId), key)
      if (c.fired !== undefined) timeouts.delete(c.fired)
      const cancelled = new Set([...c.cancel, ...c.schedule.map((t) => t.name)])
      for (const t of timeoutsOf(c.saga, c.id)) if (cancelled.has(t.name)) timeouts.delete(t.token)
      for (const t of c.schedule) timeouts.set(t.token, t)
      const entries = history.get(key) ?? []
      entries.push(SagaStore.historyOf(c))
      history.set(key, entries)
      queue.push(...encoded)
      return Effect.succeed("committed" as const)
    })

  const flush: Effect.Effect<number, SagaError.SagaError> = flushLock.withPermits(1)(
    Effect.gen(function*() {
      let appended = 0
      while (queue.length > 0) {
        const head = queue[0]!
        yield* Effect.mapError(log.appendRaw(head.subject, head.raw), (e) => SagaError.store("flush", e))
        queue.shift()
        appended++
      }
      return appended
    })
  )

  return SagaStore.SagaStore.of({
    kind: "memory",
    load: (saga, id) => Effect.sync(() => Option.fromNullishOr(instances.get(keyOf(saga, id)))),
    processed: (saga, messageId) => Effect.sync(() => processed.has(keyOf(saga, messageId))),
    commit,
    due: (now, limit, saga) =>
      Effect.sync(() =>
        [...timeouts.values()]
          .filter((t) => t.dueAt <= now && (saga === undefined || t.saga === saga))
          .sort((a, b) => a.dueAt - b.dueAt || (a.token < b.token ? -1 : 1))
          .slice(0, limit)
      ),
    timeouts: (saga, id) => Effect.sync(() => timeoutsOf(saga, id)),
    list: (query) =>
      Effect.sync(() =>
        [...instances.values()]
          .filter((i) =>
            (query?.saga === undefined || i.saga === query.saga) && (query?.status === undefined || i.status === query.status)
          )
          .sort((a, b) => a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .slice(0, query?.limit ?? SagaStore.defaultLimit)
      ),
    counts: (saga) =>
      Effect.sync(() => {
        const tally = new Map<string, SagaStore.Count>()
        for (const i of instances.values()) {
          if (saga !== undefined && i.saga !== saga) continue
          const key = keyOf(i.saga, i.status)
          tally.set(key, { saga: i.saga, status: i.status, count: (tally.get(key)?.count ?? 0) + 1 })
        }
        return [...tally.values()].sort(SagaStore.countOrder)
      }),
    history: (saga, id) => Effect.sync(() => [...(history.get(keyOf(saga, id)) ?? [])]),
    flush,
    deleteFinished: (before) =>
      Effect.sync(() => {
        let n = 0
        for (const [key, i] of instances) {
          if (SagaStore.isFinal(i.status) && i.updatedAt < before) {
            instances.delete(key)
            history.delete(key)
            for (const [message, owner] of processed) if (owner === key) processed.delete(message)
            for (const t of timeoutsOf(i.saga, i.id)) timeouts.delete(t.token)
            n++
          }
        }
        return n
      })
  })
})

/**
 * The memory store as a layer, over the `EventLog` of the context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<SagaStore.SagaStore, never, EventLog.EventLog> = Layer.effect(SagaStore.SagaStore, make)
