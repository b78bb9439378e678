/**
 * The in-memory inbox store: records in a `Map`, for tests and for handlers
 * whose effects live in the same process.
 *
 * `run` applies the effect, then records it (`markAfterSuccess`): a failed
 * effect leaves no record, so its redelivery runs it again. Deliveries of
 * one message to one consumer are serialized: a second delivery that arrives
 * while the first is running waits for it, then is a duplicate (the first
 * succeeded) or runs (the first failed). Nothing survives the process, and
 * the record is not atomic with effects outside it (a database write made by
 * the effect commits on its own): use `InboxSql` for those.
 *
 * Time (`processedAt`, retention) is Effect's `Clock`, so `TestClock` drives
 * it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as InboxError from "./InboxError.ts"
import * as InboxStore from "./InboxStore.ts"

const keyOf = (consumer: string, messageId: string) => `${consumer}\u0000${messageId}`

const byTime = (a: InboxStore.InboxRecord, b: InboxStore.InboxRecord) =>
  a.processedAt - b.processedAt ||
  (a.consumer < b.consumer ? -1 : a.consumer > b.consumer ? 1 : 0) ||
  (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0)

const matches = (query: InboxStore.Query | undefined, r: InboxStore.InboxRecord): boolean =>
  query === undefined || (
    (query.consumer === undefined || r.consumer === query.consumer) &&
    (query.stream === undefined || r.stream === query.stream) &&
    (query.type === undefined || r.type === query.type) &&
    (query.since === undefined || r.processedAt >= query.since) &&
    (query.until === undefined || r.processedAt < query.until)
  )

/**
 * A store with its own, empty memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<InboxStore.InboxStore["Service"]> = Effect.sync(() => {
  const done = new Map<string, InboxStore.InboxRecord>()
  const running = new Map<string, Deferred.Deferred<void>>()

  const run = <E, R>(
    entry: InboxStore.Entry,
    effect: Effect.Effect<void, E, R>
  ): Effect.Effect<InboxStore.Outcome, E, R> => {
    const key = keyOf(entry.consumer, entry.messageId)
    const attempt = (): Effect.Effect<InboxStore.Outcome, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          if (done.has(key)) return Effect.succeed("duplicate" as const)
          const busy = running.get(key)
          if (busy !== undefined) return restore(Effect.andThen(Deferred.await(busy), Effect.suspend(attempt)))
          const latch = Deferred.makeUnsafe<void>()
          running.set(key, latch)
          return restore(effect).pipe(
            Effect.andThen(Clock.currentTimeMillis),
            Effect.map((now) => {
              done.set(key, { ...entry, processedAt: now })
              return "processed" as const
            }),
            Effect.onExit(() =>
              Effect.sync(() => {
                running.delete(key)
                Deferred.doneUnsafe(latch, Effect.void)
              })
            )
          )
        })
      )
    return attempt()
  }

  return InboxStore.InboxStore.of({
    kind: "memory",
    guarantee: "markAfterSuccess",
    run,
    record: (consumer, messageId) => Effect.sync(() => Option.fromNullishOr(done.get(keyOf(consumer, messageId)))),
    records: (query) =>
      Effect.suspend(() => {
        const limit = query?.limit ?? InboxStore.defaultLimit
        if (!(Number.isSafeInteger(limit) && limit > 0)) {
          return Effect.fail(InboxError.invalid(`limit must be a positive integer, got ${limit}`))
        }
        return Effect.succeed(
          [...done.values()].filter((r) => matches(query, r)).sort(byTime).slice(0, limit) as ReadonlyArray<
            InboxStore.InboxRecord
          >
        )
      }),
    deleteBefore: (cutoff) =>
      Effect.sync(() => {
        let n = 0
        for (const [key, r] of done) {
          if (r.processedAt < cutoff) {
            done.delete(key)
            n++
          }
        }
        return n
      }),
    forget: (consumer, messageId) => Effect.sync(() => done.delete(keyOf(consumer, messageId)))
  })
})

/**
 * An in-memory store per build of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<InboxStore.InboxStore> = Layer.effect(InboxStore.InboxStore, make)
