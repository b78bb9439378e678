/**
 * Shared test helpers: envelopes, a counting / failing `EventLog` wrapper,
 * stream readers.
 */
import { Fixtures } from "@herald/testing"
import { type Envelope, EventLog, Topology, TransportError, type Wire } from "@herald/transport"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

const decoder = new TextDecoder()

/** Envelope number `n` (message id `testId(n)`), payload `{ n, key }`. */
export const envelope = (n: number, key?: string): Envelope.Envelope => Fixtures.envelope({ identity: n, payload: { n, key } })

export const payloadOf = (body: Uint8Array): { readonly n: number; readonly key?: string } =>
  JSON.parse(decoder.decode(body)) as { readonly n: number; readonly key?: string }

export interface AppendCall {
  readonly subject: string
  readonly messageId: string | undefined
  readonly outcome: "stored" | "duplicate" | "failed"
}

/** What the wrapping `EventLog` saw. */
export class AppendLog extends Context.Service<AppendLog, {
  readonly calls: Array<AppendCall>
  /** Fail this many of the next appends with this reason. */
  failNext: number
  failWith: TransportError.TransportErrorReason
}>()("test/AppendLog") {}

/**
 * Wraps the `EventLog` of `inner`: records every `appendRaw`, and fails the
 * first `failNext` of them. Provides the wrapped `EventLog`, `AppendLog` and
 * everything else `inner` provides.
 */
export const counting = <ROut, E, RIn>(inner: Layer.Layer<ROut | EventLog.EventLog, E, RIn>) =>
  Layer.effectContext(
    Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const state: AppendLog["Service"] = {
        calls: [],
        failNext: 0,
        failWith: new TransportError.ConnectionError({ detail: "injected failure" })
      }
      const appendRaw: EventLog.EventLog["Service"]["appendRaw"] = (subject, message, options) =>
        Effect.suspend(() => {
          const messageId = message.headers["Nats-Msg-Id"]
          if (state.failNext > 0) {
            state.failNext--
            state.calls.push({ subject, messageId, outcome: "failed" })
            return Effect.fail(TransportError.make(state.failWith))
          }
          return log.appendRaw(subject, message, options).pipe(
            Effect.tap((r) =>
              Effect.sync(() => state.calls.push({ subject, messageId, outcome: r.duplicate ? "duplicate" : "stored" }))
            ),
            Effect.tapError(() => Effect.sync(() => state.calls.push({ subject, messageId, outcome: "failed" })))
          )
        })
      return Context.make(EventLog.EventLog, { ...log, appendRaw }).pipe(Context.add(AppendLog, state))
    })
  ).pipe(Layer.provideMerge(inner))

/** Creates a stream capturing `subjects`. */
export const ensureStream = (name: string, subjects: ReadonlyArray<string>, duplicateWindow?: Duration.Input) =>
  Topology.Topology.use((topology) =>
    topology.ensureStream({ name, subjects, ...(duplicateWindow === undefined ? {} : { duplicateWindow }) })
  )

/** Every message of a stream, raw, in sequence order. */
export const streamMessages = (stream: string) =>
  EventLog.EventLog.use((log) => Stream.runCollect(log.readRaw(stream)))

export const bodies = (messages: ReadonlyArray<{ readonly raw: Wire.RawMessage }>) =>
  messages.map((m) => payloadOf(m.raw.body))

/** Asserts that for every key, the payload numbers appear in increasing order. */
export const inOrderPerKey = (payloads: ReadonlyArray<{ readonly n: number; readonly key?: string | undefined }>) => {
  const last = new Map<string, number>()
  for (const p of payloads) {
    if (p.key === undefined) continue
    const previous = last.get(p.key)
    if (previous !== undefined && previous >= p.n) return false
    last.set(p.key, p.n)
  }
  return true
}
