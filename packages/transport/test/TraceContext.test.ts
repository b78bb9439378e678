import { assert, describe, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope, TraceContext, Wire } from "@herald/transport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Tracer from "effect/Tracer"

const envelope = (headers: Record<string, string> = {}) =>
  Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(1)),
    type: "OrderPlaced",
    kind: "event",
    occurredAt: 0,
    body: new Uint8Array(0),
    headers
  })

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

describe("TraceContext", () => {
  it.effect("no current span: no headers, the envelope unchanged", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* TraceContext.headers, {})
      const e = envelope()
      assert.strictEqual(yield* TraceContext.inject(e), e)
    }))

  it.effect("inside a span: its traceparent, carried through the wire format", () =>
    Effect.gen(function*() {
      const span = yield* Effect.currentSpan
      const headers = yield* TraceContext.headers
      assert.deepStrictEqual(headers, { traceparent: `00-${span.traceId}-${span.spanId}-01` })
      const injected = yield* TraceContext.inject(envelope({ "X-Note": "kept" }))
      assert.deepStrictEqual(injected.headers, { "X-Note": "kept", traceparent: headers.traceparent! })
      const raw = Wire.encode(injected)
      assert.isTrue(Result.isSuccess(raw))
      const decoded = Wire.decodeRaw(Result.getOrThrow(raw))
      assert.deepStrictEqual(Result.getOrThrow(decoded).headers, injected.headers)
      const parent = Option.getOrThrow(TraceContext.parentOf(Result.getOrThrow(decoded).headers))
      assert.strictEqual(parent.traceId, span.traceId)
      assert.strictEqual(parent.spanId, span.spanId)
      assert.strictEqual(parent.sampled, true)
    }).pipe(Effect.withSpan("producer")))

  it.effect("an envelope that already has a traceparent (any case) keeps it", () =>
    Effect.gen(function*() {
      const e = envelope({ TraceParent: traceparent })
      assert.strictEqual(yield* TraceContext.inject(e), e)
    }).pipe(Effect.withSpan("producer")))

  it.effect("tracestate received with a traceparent is sent on by the spans below", () =>
    Effect.gen(function*() {
      const parent = Option.getOrThrow(TraceContext.parentOf({ Traceparent: traceparent, tracestate: "vendor=1" }))
      assert.deepStrictEqual(Context.getOption(parent.annotations, TraceContext.TraceState), Option.some("vendor=1"))
      const headers = yield* TraceContext.headers.pipe(
        Effect.withSpan("child"),
        Effect.withSpan("consumer", { parent })
      )
      assert.strictEqual(headers.tracestate, "vendor=1")
      assert.match(headers.traceparent!, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
    }))

  it("parentOf: W3C only, valid version 00 ids only", () => {
    assert.isTrue(Option.isNone(TraceContext.parentOf({})))
    assert.isTrue(Option.isNone(TraceContext.parentOf({ b3: "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1" })))
    assert.isTrue(Option.isNone(TraceContext.parentOf({ traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" })))
    assert.isTrue(Option.isNone(TraceContext.parentOf({ traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01" })))
    assert.isTrue(Option.isNone(TraceContext.parentOf({ traceparent: "garbage" })))
    const unsampled = Option.getOrThrow(TraceContext.parentOf({ traceparent: traceparent.replace(/01$/, "00") }))
    assert.strictEqual(unsampled.sampled, false)
  })

  it.effect("propagation disabled, or tracing off: no headers", () =>
    Effect.gen(function*() {
      const none = yield* TraceContext.headers.pipe(
        Effect.withSpan("hidden", { annotations: Context.make(Tracer.DisablePropagation, true) })
      )
      assert.deepStrictEqual(none, {})
      const off = yield* TraceContext.headers.pipe(Effect.withSpan("off"), Effect.withTracerEnabled(false))
      assert.deepStrictEqual(off, {})
    }))

  it("traceparent is not a reserved header", () => {
    assert.isFalse(Wire.isReservedHeader("traceparent"))
    assert.isFalse(Wire.isReservedHeader("tracestate"))
  })
})
