/**
 * Saga definitions: a process manager that reacts to messages, keeps a state
 * per flow, and answers each message with a `Transition`.
 *
 * ```ts
 * const Checkout = Saga.make({
 *   name: "checkout",
 *   state: Schema.Struct({ orderId: Schema.String, paid: Schema.Boolean }),
 *   initial: { orderId: "", paid: false },
 *   on: (on) => [
 *     on(OrderPlaced, (state, order) =>
 *       Saga.transition({ ...state, orderId: order.orderId }, {
 *         send: [Saga.send("payments.charge", ChargePayment, { orderId: order.orderId })],
 *         schedule: [Saga.timeout(PaymentTimedOut, { orderId: order.orderId }, { after: "30 seconds" })]
 *       }), { starts: true }),
 *     on(PaymentCharged, (state) => Saga.complete({ ...state, paid: true }, { cancel: ["PaymentTimedOut"] })),
 *     on(PaymentTimedOut, (state) => Saga.compensate(state))
 *   ]
 * })
 * ```
 *
 * A handler is a function of the state and the message: it returns the new
 * state and what to do (commands to send, events to publish, timeouts to
 * schedule or cancel, a new status), and the engine (`SagaEngine`) carries it
 * out as one atomic transition of the `SagaStore`. Handlers may be effects;
 * they must not send messages themselves (a message sent by the handler is
 * not part of the transition and would be sent again when the transition is
 * retried).
 *
 * `Saga.steps` builds the common linear case (each step a command, the events
 * that mean success and failure, a compensation and a timeout) on the same
 * engine.
 *
 * @since 0.1.0
 */
import { type Envelope, Message } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { Subject } from "@herald/subject"
import * as SagaError from "./SagaError.ts"
import type * as SagaStore from "./SagaStore.ts"

/**
 * What a handler knows besides the state and the message.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  /** The saga's name. */
  readonly saga: string
  /** The instance id (what `correlate` answered, or the timeout's instance). */
  readonly id: string
  /** The message being handled (for a timeout: the message it delivers). */
  readonly envelope: Envelope.Envelope
  /** The instance's status before this message (`running` for a new instance). */
  readonly status: SagaStore.Status
  /** The instance's version before this message (0 for a new instance). */
  readonly version: number
  /** Whether this message starts the instance. */
  readonly isNew: boolean
  /** Whether the message is a timeout firing. */
  readonly isTimeout: boolean
  /** The current time (Unix epoch milliseconds, from `Clock`). */
  readonly now: number
}

/**
 * A message a transition sends: a command (`send`) or an event (`publish`).
 * Its envelope is built by the engine, derived from the message that
 * triggered the transition (same correlation id, causation = the trigger's
 * message id) with a message id derived from (saga, instance, trigger,
 * position), so that a retried transition sends the same ids.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outgoing {
  readonly _tag: "Outgoing"
  readonly subject: string
  readonly definition: Message.Any
  readonly payload: unknown
  readonly headers: Readonly<Record<string, string>> | undefined
}

/**
 * A timeout to schedule: `definition`'s message with `payload`, delivered to
 * this instance at `at` or `after` the transition, unless cancelled (by
 * `name`, default the message type) or replaced (scheduling the same name
 * again) before.
 *
 * @since 0.1.0
 * @category models
 */
export interface Schedule {
  readonly _tag: "Schedule"
  readonly name: string
  readonly definition: Message.Any
  readonly payload: unknown
  /** Milliseconds after the transition, or an absolute time. */
  readonly when: { readonly _tag: "After"; readonly millis: number } | { readonly _tag: "At"; readonly at: number }
}

/**
 * What a transition does besides setting the state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Effects {
  /** Commands, in order. */
  readonly send?: ReadonlyArray<Outgoing> | undefined
  /** Events, in order, after the commands. */
  readonly publish?: ReadonlyArray<Outgoing> | undefined
  readonly schedule?: ReadonlyArray<Schedule> | undefined
  /** Names of pending timeouts to cancel. */
  readonly cancel?: ReadonlyArray<string> | undefined
  /** Why the saga failed (kept with the instance). */
  readonly failure?: string | undefined
}

/**
 * A handler's answer: the new state, what to do, and the new status
 * (`undefined`: unchanged, `running` for a new instance). A transition to a
 * final status (`completed`, `compensated`, `compensation-failed`) cancels
 * every pending timeout of the instance.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition<S> {
  readonly _tag: "Transition"
  readonly state: S
  readonly status: SagaStore.Status | undefined
  readonly send: ReadonlyArray<Outgoing>
  readonly publish: ReadonlyArray<Outgoing>
  readonly schedule: ReadonlyArray<Schedule>
  readonly cancel: ReadonlyArray<string>
  readonly failure: string | undefined
}

/**
 * A handler's answer when the message changes nothing (a late or unexpected
 * event): nothing is written and the message is acknowledged.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ignore {
  readonly _tag: "Ignore"
  readonly reason: string
}

/**
 * What a handler returns.
 *
 * @since 0.1.0
 * @category models
 */
export type Decision<S> = Transition<S> | Ignore

/**
 * A handler of one message type.
 *
 * @since 0.1.0
 * @category models
 */
export interface On<S, E = never, R = never> {
  readonly definition: Message.Any
  readonly handle: (state: S, payload: any, context: Context) => Effect.Effect<Decision<S>, E, R>
  /** Finds the instance id from the decoded message (default: the saga's `correlate`). */
  readonly correlate: ((payload: any, envelope: Envelope.Envelope) => string | undefined) | undefined
  /** Whether this message may start a new instance. */
  readonly starts: boolean
}

/**
 * A saga definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Saga<S, E = never, R = never> {
  readonly name: string
  readonly state: Schema.Codec<S, any>
  readonly initial: (envelope: Envelope.Envelope) => S
  /** The instance id of a message (default: its correlation id). */
  readonly correlate: (envelope: Envelope.Envelope) => string | undefined
  /** Handlers by message type. */
  readonly handlers: ReadonlyMap<string, On<S, E, R>>
  /**
   * Where a timeout's message is also published when it fires, so that the
   * stream holds it and the causation tree of the run is complete (default:
   * not published).
   */
  readonly timeoutSubject: string | undefined
  /** The state encoded into a JSON value (for the store). */
  readonly encodeState: (state: S) => Result.Result<unknown, string>
  /** A stored state decoded. */
  readonly decodeState: (json: unknown) => Result.Result<S, string>
  /** What is wrong with the definition (empty when nothing): `validate` reports it. */
  readonly problems: ReadonlyArray<string>
}

/**
 * `on` with the state type fixed: what `make` passes to its `on` option.
 *
 * @since 0.1.0
 * @category models
 */
export type OnConstructor<S> = <D extends Message.Any, E = never, R = never>(
  definition: D,
  handle: (state: S, payload: Message.Payload<D>, context: Context) => Decision<S> | Effect.Effect<Decision<S>, E, R>,
  options?: OnOptions<D>
) => On<S, E, R>

/**
 * Options of `on`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OnOptions<D extends Message.Any> {
  /** Whether the message may start a new instance (default `false`). */
  readonly starts?: boolean | undefined
  /** The instance id from the decoded payload (default: the saga's `correlate`). */
  readonly correlate?: ((payload: Message.Payload<D>, envelope: Envelope.Envelope) => string | undefined) | undefined
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions<S, E, R> {
  /** The saga's name: the key of its instances in the store. */
  readonly name: string
  /** The state's Schema (it is stored as JSON through `Schema.toCodecJson`). */
  readonly state: Schema.Codec<S, any>
  /** The state of a new instance, before its first message is applied. */
  readonly initial: NoInfer<S> | ((envelope: Envelope.Envelope) => NoInfer<S>)
  /** The instance id of a message (default: its correlation id). */
  readonly correlate?: ((envelope: Envelope.Envelope) => string | undefined) | undefined
  /**
   * The handlers, one per message type: a function of `on`, the handler
   * constructor typed by the state (so that handlers need no annotation).
   */
  readonly on: (on: OnConstructor<S>) => ReadonlyArray<On<S, E, R>>
  /** See `Saga.timeoutSubject`. */
  readonly timeoutSubject?: string | undefined
}

const sagaName = /^[A-Za-z0-9_\-.:]{1,128}$/

const byCorrelation = (envelope: Envelope.Envelope): string => envelope.identity.correlationId

/**
 * Defines a saga. Throws nothing: a definition that cannot work (an empty
 * name, two handlers for one type) is reported by `validate`, which the
 * runner calls before it starts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S, E = never, R = never>(options: MakeOptions<S, E, R>): Saga<S, E, R> => {
  const initial = options.initial
  const json = Schema.toCodecJson(options.state as unknown as Schema.Top) as unknown as Schema.Codec<S, unknown>
  const encode = Schema.encodeUnknownResult(json as any) as (u: unknown) => Result.Result<unknown, Schema.SchemaError>
  const decode = Schema.decodeUnknownResult(json as any) as (u: unknown) => Result.Result<S, Schema.SchemaError>
  const handlers = new Map<string, On<S, E, R>>()
  const problems: Array<string> = []
  if (typeof options.name !== "string" || !sagaName.test(options.name)) {
    problems.push(`a saga's name must be 1 to 128 letters, digits or "_-.:", got ${JSON.stringify(options.name)}`)
  }
  for (const h of options.on(on)) {
    if (handlers.has(h.definition.type)) problems.push(`two handlers for ${h.definition.type}`)
    else handlers.set(h.definition.type, h)
  }
  if (handlers.size === 0) problems.push("no handler")
  else if (![...handlers.values()].some((h) => h.starts)) problems.push("no handler starts an instance ({ starts: true })")
  if (options.timeoutSubject !== undefined && !Subject.isSubject(options.timeoutSubject)) {
    problems.push(`timeoutSubject ${JSON.stringify(options.timeoutSubject)} is not a subject`)
  }
  return {
    name: options.name,
    state: options.state,
    initial: typeof initial === "function" ? (initial as (envelope: Envelope.Envelope) => S) : () => initial as S,
    correlate: options.correlate ?? byCorrelation,
    handlers,
    timeoutSubject: options.timeoutSubject,
    encodeState: (state) => Result.mapError(encode(state), (e) => e.message),
    decodeState: (u) => Result.mapError(decode(u), (e) => e.message),
    problems
  }
}

/**
 * Checks a definition: a name of 1 to 128 characters among letters, digits
 * and `_ - . :`, at least one handler, at most one handler per message type,
 * at least one handler that starts an instance, a valid `timeoutSubject`;
 * for `steps`, named steps with success events and durations that are
 * durations. The runner calls it before it starts.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = <S, E, R>(saga: Saga<S, E, R>): Result.Result<void, SagaError.SagaError> =>
  saga.problems.length === 0
    ? Result.succeed(undefined)
    : Result.fail(SagaError.invalid(`saga ${String(saga.name)}: ${saga.problems.join("; ")}`))

/**
 * A handler of one message type. The handler may return a decision or an
 * effect of one. `starts`: whether the message may start a new instance
 * (default `false`: a message for an instance that does not exist is
 * ignored). `correlate`: the instance id from the decoded payload (default:
 * the saga's `correlate`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const on = <D extends Message.Any, S, E = never, R = never>(
  definition: D,
  handle: (state: S, payload: Message.Payload<D>, context: Context) => Decision<S> | Effect.Effect<Decision<S>, E, R>,
  options?: OnOptions<D>
): On<S, E, R> => ({
  definition,
  handle: (state, payload, context) => {
    const out = handle(state, payload, context)
    return Effect.isEffect(out) ? out : Effect.succeed(out)
  },
  correlate: options?.correlate,
  starts: options?.starts ?? false
})

/**
 * A command to send.
 *
 * @since 0.1.0
 * @category outputs
 */
export const send = <D extends Message.Any>(
  subject: string,
  definition: D,
  payload: Message.Payload<D>,
  options?: { readonly headers?: Readonly<Record<string, string>> | undefined }
): Outgoing => ({ _tag: "Outgoing", subject, definition, payload, headers: options?.headers })

/**
 * An event to publish (the same as `send`; the message's kind comes from its
 * definition).
 *
 * @since 0.1.0
 * @category outputs
 */
export const publish: <D extends Message.Any>(
  subject: string,
  definition: D,
  payload: Message.Payload<D>,
  options?: { readonly headers?: Readonly<Record<string, string>> | undefined }
) => Outgoing = send

/**
 * A timeout: `definition`'s message delivered to the instance `after` a
 * duration or `at` a time, unless cancelled by `name` (default: the message
 * type) before.
 *
 * @since 0.1.0
 * @category outputs
 */
export const timeout = <D extends Message.Any>(
  definition: D,
  payload: Message.Payload<D>,
  when: { readonly after: Duration.Input } | { readonly at: number },
  options?: { readonly name?: string | undefined }
): Schedule => ({
  _tag: "Schedule",
  name: options?.name ?? definition.type,
  definition,
  payload,
  when: "at" in when
    ? { _tag: "At", at: when.at }
    : { _tag: "After", millis: afterMillis(when.after) }
})

// NaN marks a duration that is not one; the engine refuses it with a typed error.
const afterMillis = (input: Duration.Input): number => {
  const d = Duration.fromInput(input)
  if (d._tag === "None" || !Duration.isFinite(d.value) || Duration.isNegative(d.value)) return Number.NaN
  return Math.ceil(Duration.toMillis(d.value))
}

const build = <S>(state: S, status: SagaStore.Status | undefined, effects: Effects | undefined): Transition<S> => ({
  _tag: "Transition",
  state,
  status,
  send: effects?.send ?? [],
  publish: effects?.publish ?? [],
  schedule: effects?.schedule ?? [],
  cancel: effects?.cancel ?? [],
  failure: effects?.failure
})

/**
 * A transition that keeps the status (`running` for a new instance).
 *
 * @since 0.1.0
 * @category transitions
 */
export const transition = <S>(state: S, effects?: Effects): Transition<S> => build(state, undefined, effects)

/**
 * A transition to `completed`: the saga is done; its pending timeouts are
 * cancelled and later messages are ignored.
 *
 * @since 0.1.0
 * @category transitions
 */
export const complete = <S>(state: S, effects?: Effects): Transition<S> => build(state, "completed", effects)

/**
 * A transition to `compensating`: the saga undoes what it did (the handler
 * sends the compensating commands, now or as their turn comes).
 *
 * @since 0.1.0
 * @category transitions
 */
export const compensate = <S>(state: S, effects?: Effects): Transition<S> => build(state, "compensating", effects)

/**
 * A transition to `compensated`: every compensation is done.
 *
 * @since 0.1.0
 * @category transitions
 */
export const compensated = <S>(state: S, effects?: Effects): Transition<S> => build(state, "compensated", effects)

/**
 * A transition to `compensation-failed`, with the reason.
 *
 * @since 0.1.0
 * @category transitions
 */
export const compensationFailed = <S>(state: S, failure: string, effects?: Effects): Transition<S> =>
  build(state, "compensation-failed", { ...effects, failure })

/**
 * Changes nothing: nothing is written, the message is acknowledged.
 *
 * @since 0.1.0
 * @category transitions
 */
export const ignore = (reason: string): Ignore => ({ _tag: "Ignore", reason })

// ---------------------------------------------------------------------------
// Linear steps
// ---------------------------------------------------------------------------

/**
 * What a step's builders see: the instance id, the payload of the message
 * that started the run, and the payloads of the success events received so
 * far.
 *
 * @since 0.1.0
 * @category steps
 */
export interface StepContext<Start> {
  readonly id: string
  readonly start: Start
  /** The payload of a success event received by an earlier step, if it was received. */
  readonly result: <D extends Message.Any>(definition: D) => Message.Payload<D> | undefined
}

/**
 * One step of a linear saga.
 *
 * @since 0.1.0
 * @category steps
 */
export interface Step<Start> {
  readonly name: string
  /** The command that runs the step. */
  readonly send: (context: StepContext<Start>) => Outgoing
  /** Events that mean the step succeeded. */
  readonly succeeded: ReadonlyArray<Message.Any>
  /** Events that mean the step failed: the completed steps are compensated. */
  readonly failed: ReadonlyArray<Message.Any>
  /** The command that undoes the step (none: nothing to undo). */
  readonly compensate: ((context: StepContext<Start>) => Outgoing) | undefined
  /**
   * Events that confirm the compensation. With them, the next compensation
   * waits for one; without them, a compensation counts as done once sent.
   */
  readonly compensated: ReadonlyArray<Message.Any>
  /** Events that mean the compensation failed: it is retried with backoff, up to the saga's `compensationAttempts`. */
  readonly compensationFailed: ReadonlyArray<Message.Any>
  /** How long the step may take (milliseconds); past it the completed steps are compensated. */
  readonly timeout: number | undefined
  /** How long a compensation may wait for its confirmation before the attempt counts as failed (milliseconds). */
  readonly compensationTimeout: number | undefined
}

const many = (d: Message.Any | ReadonlyArray<Message.Any> | undefined): ReadonlyArray<Message.Any> =>
  d === undefined ? [] : Array.isArray(d) ? d : [d as Message.Any]

const optionalMillis = (input: Duration.Input | undefined): number | undefined =>
  input === undefined ? undefined : afterMillis(input)

/**
 * What defines a step.
 *
 * @since 0.1.0
 * @category steps
 */
export interface StepOptions<Start> {
  readonly name: string
  /** The command that runs the step. */
  readonly send: (context: StepContext<Start>) => Outgoing
  /** The event(s) that mean the step succeeded. */
  readonly succeeded: Message.Any | ReadonlyArray<Message.Any>
  /** The event(s) that mean the step failed. */
  readonly failed?: Message.Any | ReadonlyArray<Message.Any> | undefined
  /** The command that undoes the step. */
  readonly compensate?: ((context: StepContext<Start>) => Outgoing) | undefined
  /** The event(s) that confirm the compensation. */
  readonly compensated?: Message.Any | ReadonlyArray<Message.Any> | undefined
  /** The event(s) that mean the compensation failed. */
  readonly compensationFailed?: Message.Any | ReadonlyArray<Message.Any> | undefined
  /** How long the step may take. */
  readonly timeout?: Duration.Input | undefined
  /** How long a compensation attempt may wait for its confirmation. */
  readonly compensationTimeout?: Duration.Input | undefined
}

/**
 * Defines a step (within `steps`, use the `step` it passes, typed by the
 * start message).
 *
 * @since 0.1.0
 * @category steps
 */
export const step = <Start>(options: StepOptions<Start>): Step<Start> => ({
  name: options.name,
  send: options.send,
  succeeded: many(options.succeeded),
  failed: many(options.failed),
  compensate: options.compensate,
  compensated: many(options.compensated),
  compensationFailed: many(options.compensationFailed),
  timeout: optionalMillis(options.timeout),
  compensationTimeout: optionalMillis(options.compensationTimeout)
})

/**
 * The state of a linear saga, as stored and as `SagaQuery` shows it.
 *
 * @since 0.1.0
 * @category steps
 */
export const StepsState = Schema.Struct({
  /** The start message's payload, JSON-encoded by its Schema. */
  start: Schema.Unknown,
  /** Success events' payloads by message type, JSON-encoded by their Schemas. */
  results: Schema.Record(Schema.String, Schema.Unknown),
  /** The running step's index (the number of steps once all completed). */
  step: Schema.Number,
  /** Why the saga is compensating. */
  reason: Schema.NullOr(Schema.String),
  /** The step whose timeout started the compensation. */
  timedOut: Schema.NullOr(Schema.Number),
  /** Steps still to compensate, the current one first. */
  queue: Schema.Array(Schema.Number),
  /** Attempts of the current compensation. */
  attempt: Schema.Number,
  /** Compensations that failed after their last attempt. */
  failures: Schema.Array(Schema.Struct({ step: Schema.String, reason: Schema.String }))
})

/**
 * The state of a linear saga.
 *
 * @since 0.1.0
 * @category steps
 */
export type StepsState = typeof StepsState.Type

const StepTimedOut = Message.event(
  "herald.saga.StepTimedOut",
  Schema.Struct({ step: Schema.String, index: Schema.Number, after: Schema.Number })
)

const CompensationRetry = Message.event(
  "herald.saga.CompensationRetry",
  Schema.Struct({ step: Schema.String, index: Schema.Number, attempt: Schema.Number })
)

const CompensationTimedOut = Message.event(
  "herald.saga.CompensationTimedOut",
  Schema.Struct({ step: Schema.String, index: Schema.Number, attempt: Schema.Number })
)

/**
 * Options of `steps`.
 *
 * @since 0.1.0
 * @category steps
 */
export interface StepsOptions<D extends Message.Any> {
  readonly name: string
  /** The message that starts a run. */
  readonly start: D
  /**
   * The steps, in order: a function of `step`, the step constructor typed
   * by the start message (so that `ctx.start` is its payload).
   */
  readonly steps: (step: (options: StepOptions<Message.Payload<D>>) => Step<Message.Payload<D>>) => ReadonlyArray<
    Step<Message.Payload<D>>
  >
  /** The instance id of a message (default: its correlation id). */
  readonly correlate?: ((envelope: Envelope.Envelope) => string | undefined) | undefined
  /** Attempts of a compensation that fails, the first included (default 3). */
  readonly compensationAttempts?: number | undefined
  /** The wait before attempt `n + 1` of a failed compensation (default 1 s doubling, at most 1 minute). */
  readonly compensationBackoff?: ((attempt: number) => Duration.Input) | undefined
  /** Events published when the last step succeeded. */
  readonly completed?: ((context: StepContext<NoInfer<Message.Payload<D>>>) => ReadonlyArray<Outgoing>) | undefined
  /** Events published when the compensation ended (`compensated` or `compensation-failed`). */
  readonly compensationEnded?:
    | ((
      context: StepContext<NoInfer<Message.Payload<D>>>,
      outcome: { readonly status: SagaStore.Status; readonly reason: string; readonly failures: StepsState["failures"] }
    ) => ReadonlyArray<Outgoing>)
    | undefined
  /** See `Saga.timeoutSubject`. */
  readonly timeoutSubject?: string | undefined
}

type Role =
  | { readonly _tag: "start" }
  | { readonly _tag: "succeeded" | "failed" | "compensated" | "compensationFailed"; readonly index: number }

const defaultBackoff = (attempt: number): Duration.Input => Math.min(60_000, 1000 * 2 ** (attempt - 1))

/**
 * A linear saga: `start` begins a run; the steps run in order, each by its
 * command, until one of its success events arrives; a failure event or a
 * step's timeout compensates the completed steps in reverse order, each
 * compensation waiting for its confirmation when it has one, retried with
 * backoff when it reports failure, and the saga ends `compensated`, or
 * `compensation-failed` with the reasons when a compensation failed after
 * its last attempt (the others still run).
 *
 * Statuses: `running` (the state's `step` is the running step) → `completed`
 * | `compensating` → `compensated` | `compensation-failed`.
 *
 * A step that reports success after its timeout started the compensation is
 * compensated too (next, when the compensation is still running); one that
 * reports success after the saga finished is ignored and logged.
 *
 * @since 0.1.0
 * @category steps
 */
export const steps = <D extends Message.Any>(options: StepsOptions<D>): Saga<StepsState> => {
  const list = options.steps(step)
  const startJson = Schema.toCodecJson(options.start.schema as Schema.Top)
  const encodeStart = Schema.encodeUnknownResult(startJson as any)
  const decodeStart = Schema.decodeUnknownResult(startJson as any)
  const jsonOf = (d: Message.Any) => Schema.toCodecJson(d.schema as Schema.Top)
  const attempts = options.compensationAttempts ?? 3
  const backoff = options.compensationBackoff ?? defaultBackoff

  const contextOf = (id: string, state: StepsState): StepContext<Message.Payload<D>> => ({
    id,
    start: Result.getOrThrow(decodeStart(state.start)) as Message.Payload<D>,
    result: (definition) => {
      const json = state.results[definition.type]
      if (json === undefined) return undefined
      return Result.getOrThrow(Schema.decodeUnknownResult(jsonOf(definition) as any)(json)) as any
    }
  })

  const runStep = (id: string, state: StepsState, index: number, effects: Effects): Transition<StepsState> => {
    const s = list[index]!
    const next = { ...state, step: index }
    return transition(next, {
      ...effects,
      send: [...(effects.send ?? []), s.send(contextOf(id, next))],
      schedule: s.timeout === undefined ? [] : [
        timeout(StepTimedOut, { step: s.name, index, after: s.timeout }, { after: s.timeout }, { name: `step:${s.name}` })
      ]
    })
  }

  // Sends compensations from the head of the queue until one must be
  // confirmed, or ends the saga when the queue is empty.
  const advance = (id: string, state: StepsState, effects: Effects): Transition<StepsState> => {
    const send: Array<Outgoing> = [...(effects.send ?? [])]
    const queue = [...state.queue]
    while (queue.length > 0) {
      const head = list[queue[0]!]!
      send.push(head.compensate!(contextOf(id, state)))
      if (head.compensated.length > 0) {
        const next = { ...state, queue, attempt: 1 }
        return compensate(next, {
          ...effects,
          send,
          schedule: head.compensationTimeout === undefined ? [] : [
            timeout(CompensationTimedOut, { step: head.name, index: queue[0]!, attempt: 1 }, {
              after: head.compensationTimeout
            }, { name: `compensation:${head.name}` })
          ]
        })
      }
      queue.shift()
    }
    const next = { ...state, queue, attempt: 0 }
    const reason = state.reason ?? "compensated"
    const failed = state.failures.length > 0
    const status: SagaStore.Status = failed ? "compensation-failed" : "compensated"
    const ended = options.compensationEnded?.(contextOf(id, next), { status, reason, failures: state.failures }) ?? []
    return build(next, status, {
      ...effects,
      send,
      publish: [...(effects.publish ?? []), ...ended],
      failure: failed
        ? `${reason}; compensation failed: ${state.failures.map((f) => `${f.step}: ${f.reason}`).join("; ")}`
        : reason
    })
  }

  const startCompensation = (
    id: string,
    state: StepsState,
    reason: string,
    timedOut: number | null,
    cancel: ReadonlyArray<string>
  ): Transition<StepsState> => {
    const queue: Array<number> = []
    for (let i = state.step - 1; i >= 0; i--) if (list[i]!.compensate !== undefined) queue.push(i)
    return advance(id, { ...state, reason, timedOut, queue, attempt: 0 }, { cancel })
  }

  // A compensation attempt that failed (a failure event or its timeout).
  const compensationAttemptFailed = (
    id: string,
    state: StepsState,
    index: number,
    why: string
  ): Transition<StepsState> => {
    const s = list[index]!
    if (state.attempt < attempts) {
      return compensate(state, {
        cancel: [`compensation:${s.name}`],
        schedule: [
          timeout(CompensationRetry, { step: s.name, index, attempt: state.attempt + 1 }, {
            after: backoff(state.attempt)
          }, { name: `retry:${s.name}` })
        ]
      })
    }
    return advance(id, {
      ...state,
      queue: state.queue.slice(1),
      attempt: 0,
      failures: [...state.failures, { step: s.name, reason: `${why} (attempt ${state.attempt} of ${attempts})` }]
    }, { cancel: [`compensation:${s.name}`] })
  }

  const roles = new Map<string, { definition: Message.Any; role: Role }>()
  const conflicts: Array<string> = []
  const assign = (definition: Message.Any, role: Role) => {
    if (roles.has(definition.type)) conflicts.push(definition.type)
    else roles.set(definition.type, { definition, role })
  }
  assign(options.start, { _tag: "start" })
  list.forEach((s, index) => {
    for (const d of s.succeeded) assign(d, { _tag: "succeeded", index })
    for (const d of s.failed) assign(d, { _tag: "failed", index })
    for (const d of s.compensated) assign(d, { _tag: "compensated", index })
    for (const d of s.compensationFailed) assign(d, { _tag: "compensationFailed", index })
  })

  const handlers: Array<On<StepsState>> = []
  for (const { definition, role } of roles.values()) {
    handlers.push(on(definition, (state: StepsState, payload: unknown, ctx: Context): Decision<StepsState> => {
      switch (role._tag) {
        case "start": {
          if (!ctx.isNew) return ignore("the run has started already")
          const json = encodeStart(payload)
          const started = { ...state, start: Result.isSuccess(json) ? json.success : null }
          return list.length === 0 ? complete(started) : runStep(ctx.id, started, 0, {})
        }
        case "succeeded": {
          const s = list[role.index]!
          const json = Schema.encodeUnknownResult(jsonOf(definition) as any)(payload)
          const results = { ...state.results, [definition.type]: Result.isSuccess(json) ? json.success : null }
          if (ctx.status === "running" && state.step === role.index) {
            const next = { ...state, results }
            const cancel = [`step:${s.name}`]
            if (role.index + 1 < list.length) return runStep(ctx.id, next, role.index + 1, { cancel })
            const done = { ...next, step: list.length }
            return complete(done, { cancel, publish: options.completed?.(contextOf(ctx.id, done)) ?? [] })
          }
          if (ctx.status === "compensating" && state.timedOut === role.index && s.compensate !== undefined) {
            // The step did its work after all: undo it too, next.
            const next = { ...state, results, timedOut: null }
            if (state.queue.length > 0 && state.attempt > 0) {
              return compensate({ ...next, queue: [state.queue[0]!, role.index, ...state.queue.slice(1)] })
            }
            return advance(ctx.id, { ...next, queue: [role.index, ...state.queue], attempt: 0 }, {})
          }
          return ignore(`${definition.type} for step ${s.name}, which is not running`)
        }
        case "failed": {
          const s = list[role.index]!
          if (ctx.status !== "running" || state.step !== role.index) {
            return ignore(`${definition.type} for step ${s.name}, which is not running`)
          }
          return startCompensation(ctx.id, state, `${s.name} failed: ${definition.type}`, null, [`step:${s.name}`])
        }
        case "compensated": {
          const s = list[role.index]!
          if (ctx.status !== "compensating" || state.queue[0] !== role.index || state.attempt === 0) {
            return ignore(`${definition.type} for the compensation of ${s.name}, which is not awaited`)
          }
          return advance(ctx.id, { ...state, queue: state.queue.slice(1), attempt: 0 }, {
            cancel: [`compensation:${s.name}`, `retry:${s.name}`]
          })
        }
        case "compensationFailed": {
          const s = list[role.index]!
          if (ctx.status !== "compensating" || state.queue[0] !== role.index || state.attempt === 0) {
            return ignore(`${definition.type} for the compensation of ${s.name}, which is not awaited`)
          }
          return compensationAttemptFailed(ctx.id, state, role.index, definition.type)
        }
      }
    }, { starts: role._tag === "start" }))
  }
  handlers.push(
    on(StepTimedOut, (state: StepsState, t, ctx) =>
      ctx.status === "running" && state.step === t.index
        ? startCompensation(ctx.id, state, `${t.step} timed out after ${t.after} ms`, t.index, [])
        : ignore(`the timeout of step ${t.step}, which is not running`)),
    on(CompensationTimedOut, (state: StepsState, t, ctx) =>
      ctx.status === "compensating" && state.queue[0] === t.index && state.attempt === t.attempt
        ? compensationAttemptFailed(ctx.id, state, t.index, "no confirmation in time")
        : ignore(`the compensation timeout of ${t.step}, attempt ${t.attempt}, which is not awaited`)),
    on(CompensationRetry, (state: StepsState, t, ctx) => {
      if (ctx.status !== "compensating" || state.queue[0] !== t.index || state.attempt + 1 !== t.attempt) {
        return ignore(`the retry of the compensation of ${t.step}, which is not awaited`)
      }
      const s = list[t.index]!
      const next = { ...state, attempt: t.attempt }
      return compensate(next, {
        send: [s.compensate!(contextOf(ctx.id, next))],
        schedule: s.compensationTimeout === undefined ? [] : [
          timeout(CompensationTimedOut, { step: s.name, index: t.index, attempt: t.attempt }, {
            after: s.compensationTimeout
          }, { name: `compensation:${s.name}` })
        ]
      })
    })
  )

  const saga = make<StepsState>({
    name: options.name,
    state: StepsState,
    initial: { start: null, results: {}, step: 0, reason: null, timedOut: null, queue: [], attempt: 0, failures: [] },
    correlate: options.correlate,
    on: () => handlers,
    timeoutSubject: options.timeoutSubject
  })
  const problems: Array<string> = []
  if (conflicts.length > 0) problems.push(`a message type has two roles: ${[...new Set(conflicts)].join(", ")}`)
  const names = new Set<string>()
  list.forEach((s, i) => {
    if (typeof s.name !== "string" || s.name.length === 0) problems.push(`step ${i} has no name`)
    else if (names.has(s.name)) problems.push(`two steps are named ${s.name}`)
    names.add(s.name)
    if (s.succeeded.length === 0) problems.push(`step ${s.name} has no success event`)
    if (Number.isNaN(s.timeout) || Number.isNaN(s.compensationTimeout)) problems.push(`step ${s.name}: a timeout that is not a duration`)
    if (s.compensate === undefined && (s.compensated.length > 0 || s.compensationFailed.length > 0)) {
      problems.push(`step ${s.name} has compensation events but no compensation`)
    }
  })
  if (!Number.isSafeInteger(attempts) || attempts < 1) problems.push(`compensationAttempts must be a positive integer`)
  return { ...saga, problems: [...saga.problems, ...problems] }
}
