/**
 * The saga engine: applies one message (or one due timeout) to one saga
 * instance as one atomic transition of the `SagaStore`.
 *
 * For a message:
 *
 * 1. Its handler is found by type; a type the saga does not handle is
 *    ignored. The payload is decoded (a bad payload is a `DecodeError`, not
 *    retryable: the runner dead-letters it) and the instance id found
 *    (`correlate`).
 * 2. A message the saga processed before is a duplicate and changes nothing.
 * 3. The instance is loaded (or, for a message that starts one, created from
 *    `initial`), its state decoded, the handler run, and the transition built:
 *    the state encoded, each outgoing message built as an envelope derived
 *    from the trigger (same correlation id, causation = the trigger's message
 *    id) with a message id derived from (saga, instance, trigger, position),
 *    each timeout as a message with such an id (its token). Outgoing
 *    messages carry the trace context of the current span (the span that
 *    processes the trigger; see `TraceContext`), unless the transition set
 *    a `traceparent` itself.
 * 4. The store commits it if the instance's version did not move meanwhile.
 *    If it moved (another message of the same instance committed first), the
 *    engine loads the instance again and applies the message to the newer
 *    state, up to `conflictRetries` times, then fails with `Conflict`
 *    (retryable: the message is delivered again later).
 *
 * A due timeout goes the same way with the timeout's message, its instance
 * and the condition that it is still pending: a timeout cancelled or replaced
 * meanwhile is stale and changes nothing.
 *
 * Handlers may run more than once for one message (after a conflict, or a
 * redelivery of a message whose transition did not commit); only the
 * transition that commits takes effect, so handlers must keep their effects
 * in the transition they return.
 *
 * Every committed transition is counted in the `Metric` counter
 * `herald.saga.transitions` ({@link transitions}) of the context's metric
 * registry, by saga and by status before and after; duplicates, stale
 * timeouts, ignored messages and lost conflicts are not.
 *
 * @since 0.1.0
 */
import { MessageIdentity } from "@herald/identity"
import { Subject } from "@herald/subject"
import { type Envelope, type Message, TraceContext, TransportError, Wire } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { deterministicId } from "./internal/ids.ts"
import * as Saga from "./Saga.ts"
import * as SagaError from "./SagaError.ts"
import * as SagaStore from "./SagaStore.ts"

/**
 * Where a message came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Source {
  readonly subject: string
  readonly stream?: string | undefined
  readonly streamSequence?: number | undefined
}

/**
 * What happened to a message or a timeout.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | {
    readonly _tag: "Applied"
    readonly id: string
    readonly version: number
    readonly status: SagaStore.Status
    /** Attempts it took (more than 1 after conflicts). */
    readonly attempts: number
  }
  | { readonly _tag: "Duplicate"; readonly id: string | undefined }
  | { readonly _tag: "Ignored"; readonly id: string | undefined; readonly reason: string }
  | { readonly _tag: "Stale"; readonly id: string; readonly token: string }

/**
 * Options of the engine.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How many times a transition is applied again after a conflict (default 10). */
  readonly conflictRetries?: number | undefined
}

/**
 * The default of `conflictRetries`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultConflictRetries = 10

const invalidTransition = (saga: string, id: string, detail: string, cause?: unknown) =>
  SagaError.make(
    cause === undefined
      ? new SagaError.InvalidTransition({ saga, id, detail })
      : new SagaError.InvalidTransition({ saga, id, detail, cause })
  )

const decodeError = (detail: string) => TransportError.make(new TransportError.DecodeError({ detail }))

const consumeOnly = <S, E, R>(type: string): Saga.On<S, E, R> => ({
  definition: { type } as Saga.On<S, E, R>["definition"],
  handle: () => Effect.succeed(Saga.ignore(`unhandled timeout ${type}`)),
  correlate: undefined,
  starts: false
})

const unchanged = <S>(state: S): Saga.Transition<S> => Saga.transition(state)

/** Builds an outgoing envelope; a payload its Schema refuses is an `InvalidTransition`. */
const envelopeOf = (
  saga: string,
  id: string,
  definition: Message.Any,
  payload: unknown,
  options: Message.MakeOptions,
  what: string
) =>
  Effect.mapError(
    definition.make(payload, options) as Effect.Effect<Envelope.Envelope, TransportError.TransportError>,
    (e) => invalidTransition(saga, id, `${what}: ${e.message}`, e)
  )

interface Trigger {
  readonly envelope: Envelope.Envelope
  readonly source: SagaStore.Trigger
  readonly fired: SagaStore.Timeout | undefined
}

const buildOutgoing = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  id: string,
  trigger: Trigger,
  transition: Saga.Transition<S>,
  now: number
) =>
  Effect.gen(function*() {
    const out: Array<SagaStore.Outgoing> = []
    if (trigger.fired !== undefined && saga.timeoutSubject !== undefined) {
      out.push({ subject: saga.timeoutSubject, envelope: trigger.envelope })
    }
    const items = [...transition.send, ...transition.publish]
    // The current span's context (the span that processes the trigger): the
    // messages the transition sends continue the trigger's trace.
    const trace = items.length === 0 ? {} : yield* TraceContext.headers
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      if (!Subject.isSubject(item.subject)) {
        return yield* Effect.fail(
          invalidTransition(saga.name, id, `${item.definition.type}: ${JSON.stringify(item.subject)} is not a subject`)
        )
      }
      const envelope = yield* envelopeOf(saga.name, id, item.definition, item.payload, {
        identity: MessageIdentity.derive(
          trigger.envelope.identity,
          deterministicId(saga.name, id, trigger.source.messageId, "out", i)
        ),
        occurredAt: now,
        headers: item.headers === undefined || !TraceContext.hasTraceparent(item.headers)
          ? { ...trace, ...item.headers }
          : item.headers
      }, item.definition.type)
      out.push({ subject: item.subject, envelope })
    }
    return out
  })

const buildTimeouts = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  id: string,
  trigger: Trigger,
  transition: Saga.Transition<S>,
  now: number
) =>
  Effect.gen(function*() {
    const out: Array<SagaStore.Timeout> = []
    const names = new Set<string>()
    for (let j = 0; j < transition.schedule.length; j++) {
      const s = transition.schedule[j]!
      if (typeof s.name !== "string" || s.name.length === 0) {
        return yield* Effect.fail(invalidTransition(saga.name, id, `a timeout of ${s.definition.type} has an empty name`))
      }
      if (names.has(s.name)) {
        return yield* Effect.fail(invalidTransition(saga.name, id, `two timeouts named ${s.name} in one transition`))
      }
      names.add(s.name)
      const dueAt = s.when._tag === "At" ? s.when.at : now + s.when.millis
      if (!Number.isSafeInteger(dueAt) || dueAt < 0) {
        return yield* Effect.fail(
          invalidTransition(saga.name, id, `timeout ${s.name}: not a finite, non-negative time or duration`)
        )
      }
      const token = deterministicId(saga.name, id, trigger.source.messageId, "timeout", j)
      const envelope = yield* envelopeOf(saga.name, id, s.definition, s.payload, {
        identity: MessageIdentity.derive(trigger.envelope.identity, token),
        occurredAt: dueAt
      }, `timeout ${s.name}`)
      const raw = Wire.encode(envelope)
      if (Result.isFailure(raw)) {
        return yield* Effect.fail(invalidTransition(saga.name, id, `timeout ${s.name}: ${raw.failure.message}`))
      }
      out.push({ saga: saga.name, id, token, name: s.name, dueAt, message: raw.success })
    }
    return out
  })

/**
 * `herald.saga.transitions`: transitions committed, with
 * `herald.saga.name`, `herald.saga.status.previous` (the status before, or
 * `none` for the transition that created the instance) and
 * `herald.saga.status` (the status after). Instances started are the
 * transitions from `none`; instances that ended are those to a final
 * status.
 *
 * @since 0.1.0
 * @category metrics
 */
export const transitions: Metric.Counter<number> = Metric.counter("herald.saga.transitions", {
  description: "Saga transitions committed, by saga and status before and after.",
  incremental: true
})

const countTransition = (saga: string, from: SagaStore.Status | "none", to: SagaStore.Status): Effect.Effect<void> =>
  Metric.update(
    Metric.withAttributes(transitions, {
      "herald.saga.name": saga,
      "herald.saga.status.previous": from,
      "herald.saga.status": to
    }),
    1
  )

const apply = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  entry: Saga.On<S, E, R>,
  payload: unknown,
  id: string,
  trigger: Trigger,
  options: Options | undefined
): Effect.Effect<Outcome, E | SagaError.SagaError, R | SagaStore.SagaStore> =>
  Effect.gen(function*() {
    const store = yield* SagaStore.SagaStore
    const retries = options?.conflictRetries ?? defaultConflictRetries
    const isTimeout = trigger.fired !== undefined
    for (let attempt = 1;; attempt++) {
      const loaded = yield* store.load(saga.name, id)
      let state: S
      let status: SagaStore.Status
      let version: number
      if (Option.isNone(loaded)) {
        if (isTimeout) return { _tag: "Stale", id, token: trigger.source.messageId } as const
        if (!entry.starts) {
          return { _tag: "Ignored", id, reason: `no instance ${id}, and ${entry.definition.type} does not start one` } as const
        }
        state = saga.initial(trigger.envelope)
        status = "running"
        version = 0
      } else {
        const instance = loaded.value
        if (SagaStore.isFinal(instance.status)) {
          if (isTimeout) return { _tag: "Stale", id, token: trigger.source.messageId } as const
          return { _tag: "Ignored", id, reason: `instance ${id} is ${instance.status}` } as const
        }
        const decoded = saga.decodeState(instance.state)
        if (Result.isFailure(decoded)) {
          return yield* Effect.fail(
            SagaError.make(new SagaError.CorruptState({ saga: saga.name, id, detail: decoded.failure }))
          )
        }
        state = decoded.success
        status = instance.status
        version = instance.version
      }
      const now = yield* Clock.currentTimeMillis
      const decision = yield* entry.handle(state, payload, {
        saga: saga.name,
        id,
        envelope: trigger.envelope,
        status,
        version,
        isNew: version === 0,
        isTimeout,
        now
      })
      if (decision._tag === "Ignore" && !isTimeout) return { _tag: "Ignored", id, reason: decision.reason } as const
      // A timeout is consumed even when its handler ignores it.
      const transition = decision._tag === "Ignore" ? unchanged(state) : decision
      const nextStatus = transition.status ?? status
      const encoded = saga.encodeState(transition.state)
      if (Result.isFailure(encoded)) {
        return yield* Effect.fail(invalidTransition(saga.name, id, `the new state: ${encoded.failure}`))
      }
      const outgoing = yield* buildOutgoing(saga, id, trigger, transition, now)
      const schedule = SagaStore.isFinal(nextStatus) ? [] : yield* buildTimeouts(saga, id, trigger, transition, now)
      const cancel = SagaStore.isFinal(nextStatus)
        ? [...new Set([...transition.cancel, ...(yield* store.timeouts(saga.name, id)).map((t) => t.name)])]
        : transition.cancel
      const result = yield* store.commit({
        saga: saga.name,
        id,
        expectedVersion: version,
        status: nextStatus,
        state: encoded.success,
        failure: transition.failure ?? (Option.isSome(loaded) ? loaded.value.failure : undefined),
        now,
        trigger: trigger.source,
        outgoing,
        cancel,
        schedule,
        fired: trigger.fired?.token
      })
      if (result === "committed") {
        yield* countTransition(saga.name, Option.isNone(loaded) ? "none" : status, nextStatus)
        if (outgoing.length > 0) {
          yield* Effect.catchCause(
            store.flush,
            (cause) => Effect.logWarning(`saga ${saga.name} ${id}: messages committed, not yet appended; the runner retries`, cause)
          )
        }
        return { _tag: "Applied", id, version: version + 1, status: nextStatus, attempts: attempt } as const
      }
      if (result === "duplicate") return { _tag: "Duplicate", id } as const
      if (isTimeout) {
        const pending = yield* store.timeouts(saga.name, id)
        if (!pending.some((t) => t.token === trigger.fired!.token)) {
          return (yield* store.processed(saga.name, trigger.fired!.token))
            ? { _tag: "Duplicate", id } as const
            : { _tag: "Stale", id, token: trigger.fired!.token } as const
        }
      }
      if (attempt > retries) {
        return yield* Effect.fail(SagaError.make(new SagaError.Conflict({ saga: saga.name, id, attempts: attempt })))
      }
      yield* Effect.yieldNow
    }
  })

/**
 * Applies a message to the saga: finds its handler and instance, runs the
 * handler, commits the transition.
 *
 * @since 0.1.0
 * @category engine
 */
export const handle = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  envelope: Envelope.Envelope,
  source: Source,
  options?: Options
): Effect.Effect<Outcome, E | SagaError.SagaError | TransportError.TransportError, R | SagaStore.SagaStore> =>
  Effect.gen(function*() {
    const entry = saga.handlers.get(envelope.type)
    if (entry === undefined || entry.definition.kind !== envelope.kind) {
      return { _tag: "Ignored", id: undefined, reason: `saga ${saga.name} does not handle ${envelope.kind} ${envelope.type}` } as const
    }
    const payload = yield* (entry.definition.decode(envelope) as Effect.Effect<unknown, TransportError.TransportError>)
    const id = entry.correlate !== undefined ? entry.correlate(payload, envelope) : saga.correlate(envelope)
    if (typeof id !== "string" || id.length === 0) {
      return yield* Effect.fail(
        decodeError(`saga ${saga.name}: ${envelope.type} ${envelope.identity.messageId} correlates to no instance id`)
      )
    }
    const store = yield* SagaStore.SagaStore
    if (yield* store.processed(saga.name, envelope.identity.messageId)) return { _tag: "Duplicate", id } as const
    return yield* apply(saga, entry, payload, id, {
      envelope,
      source: {
        messageId: envelope.identity.messageId,
        type: envelope.type,
        subject: source.subject,
        stream: source.stream,
        streamSequence: source.streamSequence
      },
      fired: undefined
    }, options)
  })

/**
 * Fires a due timeout: delivers its message to its instance if it is still
 * pending there (else it is `Stale`).
 *
 * @since 0.1.0
 * @category engine
 */
export const fire = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  timeout: SagaStore.Timeout,
  options?: Options
): Effect.Effect<Outcome, E | SagaError.SagaError | TransportError.TransportError, R | SagaStore.SagaStore> =>
  Effect.gen(function*() {
    const envelope = Wire.decodeRaw(timeout.message)
    if (Result.isFailure(envelope)) {
      return yield* Effect.fail(
        invalidTransition(saga.name, timeout.id, `timeout ${timeout.name}: ${envelope.failure.message}`)
      )
    }
    // A timeout nobody can handle any more (its handler removed, its payload
    // no longer decodes) is consumed, not fired again on every tick.
    const found = saga.handlers.get(envelope.success.type)
    const decoded = found === undefined
      ? Result.fail(`no handler for ${envelope.success.type}`)
      : yield* Effect.result(
        Effect.mapError(
          found.definition.decode(envelope.success) as Effect.Effect<unknown, TransportError.TransportError>,
          (e) => e.message
        )
      )
    if (Result.isFailure(decoded)) {
      yield* Effect.logWarning(`saga ${saga.name} ${timeout.id}: timeout ${timeout.name} consumed unhandled: ${decoded.failure}`)
    }
    const entry: Saga.On<S, E, R> = found !== undefined && Result.isSuccess(decoded) ? found : consumeOnly(envelope.success.type)
    const payload = Result.isSuccess(decoded) ? decoded.success : undefined
    return yield* apply(saga, entry, payload, timeout.id, {
      envelope: envelope.success,
      source: {
        messageId: timeout.token,
        type: envelope.success.type,
        subject: "",
        stream: undefined,
        streamSequence: undefined
      },
      fired: timeout
    }, options)
  })
