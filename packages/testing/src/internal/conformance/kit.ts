/**
 * The per-test kit of the conformance suite: unique names, time control that
 * works the same under `TestClock` and the live clock, polling helpers and
 * envelope builders.
 *
 * Every helper that needs time to pass goes through `advance`: with the test
 * clock it is `TestClock.adjust`, with the live clock a real `Effect.sleep`.
 * Waiting loops count the time they advanced themselves (not the clock), so the
 * same test makes the same decisions in both modes.
 *
 * @internal
 */
import { MessageIdentity } from "@herald/identity"
import type { Bus } from "@herald/transport"
import { Envelope, EventLog, Millis, Topology, TransportError } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as TestClock from "effect/testing/TestClock"
import * as Wait from "../../Wait.ts"

/** @internal */
export type ClockMode = "test" | "live"

/** @internal */
export type Services = Bus.Bus | EventLog.EventLog | Topology.Topology

/** @internal */
export interface DriveOptions {
  /** Time advanced per step while the effect has not completed (default 50 ms). */
  readonly step?: Duration.Input | undefined
  /** Total time advanced before giving up (default 10 s). */
  readonly limit?: Duration.Input | undefined
  /** What the effect does, for the failure message. */
  readonly what?: string | undefined
}

/** @internal */
export interface EventuallyOptions {
  /** Total time advanced before giving up (default 5 s). */
  readonly within?: Duration.Input | undefined
  /** Time advanced between probes (default 100 ms). */
  readonly step?: Duration.Input | undefined
  /** What is awaited, for the failure message. */
  readonly what?: string | undefined
}

/** @internal */
export interface EnvelopeOptions {
  readonly type?: string | undefined
  readonly kind?: Envelope.Kind | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The JSON body (default `{"n": n}`). */
  readonly body?: unknown
  /** Derive the identity from this parent instead of making a root. */
  readonly causedBy?: Envelope.Envelope | undefined
}

/** @internal */
export interface Kit {
  readonly clock: ClockMode
  /** A unique lowercase subject token for this test, e.g. `c7x9f`. */
  readonly prefix: string
  /** A unique stream or consumer name, e.g. `C7_ORDERS_X9F`. */
  readonly name: (label: string) => string
  /** Whether a stream or consumer name was made by `name` of this kit. */
  readonly owns: (name: string) => boolean
  /** A subject under this test's prefix: `subject("orders", "created")` is `c7x9f.orders.created`. */
  readonly subject: (...tokens: ReadonlyArray<string>) => string
  /** Lets `duration` pass: `TestClock.adjust` or a real sleep. */
  readonly advance: (duration: Duration.Input) => Effect.Effect<void>
  /** The current time (Unix epoch milliseconds) of the clock the transport uses. */
  readonly now: Effect.Effect<number>
  /** Runs an effect that may need time to pass, advancing time in steps until it completes. */
  readonly drive: <A, E, R>(effect: Effect.Effect<A, E, R>, options?: DriveOptions) => Effect.Effect<A, E, R>
  /** Probes until `done` holds, advancing time between probes; dies with the last value when it never does. */
  readonly eventually: <A, E, R>(
    probe: Effect.Effect<A, E, R>,
    done: (a: A) => boolean,
    options?: EventuallyOptions
  ) => Effect.Effect<A, E, R>
  /** A deterministic envelope numbered `n`: id `<prefix>-m<n>`, body `{"n": n}`. */
  readonly envelope: (n: number, options?: EnvelopeOptions) => Envelope.Envelope
  /** Pulls with a short `expires`, driving time until the pull answers. */
  readonly fetch: (
    stream: string,
    consumer: string,
    options?: { readonly batch?: number | undefined; readonly expires?: Duration.Input | undefined }
  ) => Effect.Effect<ReadonlyArray<EventLog.Delivery>, TransportError.TransportError, EventLog.EventLog>
  /** A test-local dead-letter stream and the subject it captures. */
  readonly deadLetters: (label?: string) => { readonly stream: Topology.StreamConfig; readonly subject: string }
}

let counter = 0

const randomToken = (length: number): string => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
  const bytes = new Uint8Array(length)
  globalThis.crypto.getRandomValues(bytes)
  let out = ""
  for (const b of bytes) out += alphabet[b % alphabet.length]
  return out
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The default `expires` of `Kit.fetch`. @internal */
export const fetchExpires = "250 millis"

/** @internal */
export const makeKit = (clock: ClockMode): Kit => {
  const id = ++counter
  const random = randomToken(3)
  const prefix = `c${id}${random}`
  const name = (label: string) => `C${id}_${label.toUpperCase()}_${random.toUpperCase()}`
  const owns = (candidate: string) =>
    candidate.startsWith(`C${id}_`) && candidate.endsWith(`_${random.toUpperCase()}`)
  const subject = (...tokens: ReadonlyArray<string>) => [prefix, ...tokens].join(".")
  const advance = (duration: Duration.Input): Effect.Effect<void> =>
    clock === "test" ? TestClock.adjust(duration) : Effect.sleep(duration)

  const drive = <A, E, R>(effect: Effect.Effect<A, E, R>, options?: DriveOptions): Effect.Effect<A, E, R> =>
    Effect.gen(function*() {
      const step = Millis.orElse(options?.step, 50)
      const limit = Millis.orElse(options?.limit, 10_000)
      const fiber = yield* Effect.forkChild(effect)
      let waited = 0
      while (true) {
        for (let i = 0; i < 5; i++) {
          const exit = fiber.pollUnsafe()
          if (exit !== undefined) return yield* exit
          yield* Effect.yieldNow
        }
        const exit = fiber.pollUnsafe()
        if (exit !== undefined) return yield* exit
        if (waited >= limit) {
          yield* Fiber.interrupt(fiber)
          return yield* Effect.die(
            new Error(`${options?.what ?? "the operation"} did not complete within ${limit} ms`)
          )
        }
        yield* advance(step)
        waited += step
      }
    })

  const eventually = <A, E, R>(
    probe: Effect.Effect<A, E, R>,
    done: (a: A) => boolean,
    options?: EventuallyOptions
  ): Effect.Effect<A, never, R> =>
    Wait.until(probe, done, options?.what ?? "condition", {
      bound: options?.within ?? "5 seconds",
      interval: options?.step ?? "100 millis",
      advance
    })

  const envelope = (n: number, options?: EnvelopeOptions): Envelope.Envelope => {
    const made = MessageIdentity.make({
      messageId: `${prefix}-m${n}`,
      correlationId: `${prefix}-m${n}`,
      causationId: `${prefix}-m${n}`
    })
    if (Result.isFailure(made)) throw made.failure
    const identity = options?.causedBy === undefined
      ? made.success
      : MessageIdentity.derive(options.causedBy.identity, made.success.messageId)
    return Envelope.make({
      identity,
      type: options?.type ?? "herald.conformance.Ping",
      kind: options?.kind ?? "event",
      occurredAt: 1_700_000_000_000 + n,
      headers: { "x-conformance": prefix, ...options?.headers },
      body: encoder.encode(JSON.stringify(options !== undefined && "body" in options ? options.body : { n }))
    })
  }

  const fetch: Kit["fetch"] = (stream, consumer, options) =>
    Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      return yield* drive(
        log.pull(stream, consumer, { batch: options?.batch ?? 1, expires: options?.expires ?? fetchExpires }),
        { what: `pull ${stream}/${consumer}` }
      )
    })

  const deadLetters = (label = "dlq") => {
    const s = subject(label)
    return { stream: Topology.deadLetterStream({ name: name(label), subjects: [s] }), subject: s }
  }

  return {
    clock,
    prefix,
    name,
    owns,
    subject,
    advance,
    now: Clock.currentTimeMillis,
    drive,
    eventually,
    envelope,
    fetch,
    deadLetters
  }
}

/** Renders a value for an assertion message. @internal */
export const show = (u: unknown): string => {
  try {
    return JSON.stringify(u, (_, v) => (v instanceof Uint8Array ? decoder.decode(v) : v))
  } catch {
    return String(u)
  }
}

/** The `n` of a body written by `Kit.envelope`. @internal */
export const nOf = (incoming: { readonly envelope: Envelope.Envelope }): number => {
  const parsed = JSON.parse(decoder.decode(incoming.envelope.body)) as { readonly n?: unknown }
  return typeof parsed.n === "number" ? parsed.n : Number.NaN
}

/** The reason of a `TransportError`, or a failed assertion. @internal */
export const reasonOf = (error: unknown): TransportError.TransportErrorReason => {
  if (!TransportError.isTransportError(error)) {
    return assert.fail(`expected a TransportError, got ${show(error)}`)
  }
  return error.reason
}

/**
 * Runs `effect`, expects it to fail with a `TransportError` whose reason has
 * `tag`, and returns the reason.
 *
 * @internal
 */
export const failsWith = <Tag extends TransportError.TransportErrorReason["_tag"], R>(
  effect: Effect.Effect<unknown, TransportError.TransportError, R>,
  tag: Tag
): Effect.Effect<Extract<TransportError.TransportErrorReason, { readonly _tag: Tag }>, never, R> =>
  Effect.flatMap(Effect.result(effect), (result) =>
    Effect.sync(() => {
      if (Result.isSuccess(result)) {
        return assert.fail(`expected a TransportError with reason ${tag}, but it succeeded with ${show(result.success)}`)
      }
      const reason = reasonOf(result.failure)
      if (reason._tag !== tag) {
        return assert.fail(`expected reason ${tag}, got ${reason._tag}: ${reason.message}`)
      }
      return reason as Extract<TransportError.TransportErrorReason, { readonly _tag: Tag }>
    }))
