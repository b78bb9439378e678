/**
 * Queries over the `SagaStore` of the context: one instance with its decoded
 * state and pending timeouts, instances by saga and status, and the history
 * of an instance's transitions (which message, which outputs).
 *
 * ```ts
 * const view = yield* SagaQuery.get(Checkout, orderId)            // Option<View<State>>
 * const stuck = yield* SagaQuery.list("checkout", { status: "compensation-failed" })
 * const history = yield* SagaQuery.history("checkout", orderId)
 * const byStatus = yield* SagaQuery.counts("checkout")           // [{ saga, status, count }]
 * ```
 *
 * The functions that take a saga's name rather than its definition (for
 * tools that have no definition, such as a command line) return the state as
 * stored: the JSON value its Schema encoded.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Saga from "./Saga.ts"
import * as SagaError from "./SagaError.ts"
import * as SagaStore from "./SagaStore.ts"

/**
 * A pending timeout, as a query shows it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingTimeout {
  readonly name: string
  readonly token: string
  /** Unix epoch milliseconds. */
  readonly dueAt: number
  /** The type of the message it delivers. */
  readonly type: string | undefined
}

/**
 * One instance: what the store holds, its state decoded (or as stored, for
 * the by-name functions) and its pending timeouts.
 *
 * @since 0.1.0
 * @category models
 */
export interface View<S> {
  readonly saga: string
  readonly id: string
  readonly status: SagaStore.Status
  readonly version: number
  readonly state: S
  readonly failure: string | undefined
  readonly createdAt: number
  readonly updatedAt: number
  readonly timeouts: ReadonlyArray<PendingTimeout>
}

const pendingOf = (t: SagaStore.Timeout): PendingTimeout => ({
  name: t.name,
  token: t.token,
  dueAt: t.dueAt,
  type: t.message.headers["Herald-Type"]
})

const viewOf = <S>(instance: SagaStore.Instance, state: S, timeouts: ReadonlyArray<SagaStore.Timeout>): View<S> => ({
  saga: instance.saga,
  id: instance.id,
  status: instance.status,
  version: instance.version,
  state,
  failure: instance.failure,
  createdAt: instance.createdAt,
  updatedAt: instance.updatedAt,
  timeouts: timeouts.map(pendingOf)
})

/**
 * One instance of a saga, its state decoded by the saga's Schema.
 *
 * @since 0.1.0
 * @category queries
 */
export const get = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  id: string
): Effect.Effect<Option.Option<View<S>>, SagaError.SagaError, SagaStore.SagaStore> =>
  Effect.gen(function*() {
    const store = yield* SagaStore.SagaStore
    const loaded = yield* store.load(saga.name, id)
    if (Option.isNone(loaded)) return Option.none()
    const state = saga.decodeState(loaded.value.state)
    if (Result.isFailure(state)) {
      return yield* Effect.fail(SagaError.make(new SagaError.CorruptState({ saga: saga.name, id, detail: state.failure })))
    }
    return Option.some(viewOf(loaded.value, state.success, yield* store.timeouts(saga.name, id)))
  })

/**
 * One instance by the saga's name, its state as stored (a JSON value).
 *
 * @since 0.1.0
 * @category queries
 */
export const getByName = (
  saga: string,
  id: string
): Effect.Effect<Option.Option<View<unknown>>, SagaError.SagaError, SagaStore.SagaStore> =>
  Effect.gen(function*() {
    const store = yield* SagaStore.SagaStore
    const loaded = yield* store.load(saga, id)
    if (Option.isNone(loaded)) return Option.none()
    return Option.some(viewOf(loaded.value, loaded.value.state, yield* store.timeouts(saga, id)))
  })

/**
 * Instances of a saga (by name), optionally of one status, least recently
 * updated first, at most `limit` (default 100).
 *
 * @since 0.1.0
 * @category queries
 */
export const list = (
  saga: string,
  options?: { readonly status?: SagaStore.Status | undefined; readonly limit?: number | undefined }
): Effect.Effect<ReadonlyArray<SagaStore.Instance>, SagaError.SagaError, SagaStore.SagaStore> =>
  SagaStore.SagaStore.use((store) => store.list({ saga, status: options?.status, limit: options?.limit }))

/**
 * The transitions of one instance, oldest first: the message that triggered
 * each, the status after it, the messages it sent, the timeouts it scheduled
 * and cancelled.
 *
 * @since 0.1.0
 * @category queries
 */
export const history = (
  saga: string,
  id: string
): Effect.Effect<ReadonlyArray<SagaStore.HistoryEntry>, SagaError.SagaError, SagaStore.SagaStore> =>
  SagaStore.SagaStore.use((store) => store.history(saga, id))

/**
 * How many instances are in each status, by saga (of one saga when given):
 * only the pairs with at least one instance, by saga then status
 * (`SagaStore.counts`).
 *
 * @since 0.1.0
 * @category queries
 */
export const counts = (
  saga?: string
): Effect.Effect<ReadonlyArray<SagaStore.Count>, SagaError.SagaError, SagaStore.SagaStore> =>
  SagaStore.SagaStore.use((store) => store.counts(saga))
