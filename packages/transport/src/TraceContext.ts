/**
 * W3C trace context (`traceparent`, `tracestate`) in an envelope's headers:
 * how a span started where a message is sent becomes the parent of the span
 * that processes it, across processes and transports.
 *
 * - `headers`: the current span's context as headers (none when there is no
 *   current span, when tracing is off, or when propagation is disabled).
 * - `inject`: an envelope with those headers, unless it already carries a
 *   `traceparent` (a context chosen earlier, for instance the one the outbox
 *   stored with the message, is never replaced).
 * - `parentOf`: the `Tracer.ExternalSpan` a `traceparent` names, to use as
 *   the `parent` of a consumer's span (W3C only; B3 headers are ignored).
 *   Its `tracestate`, if any, rides along in the span's annotations and
 *   `headers` sends it on from the spans below it.
 *
 * ```ts
 * import { Bus, type Envelope, TraceContext } from "@herald/transport"
 * import * as Effect from "effect/Effect"
 *
 * // The consumer's span will be a child of "place order".
 * const placeOrder = (envelope: Envelope.Envelope) =>
 *   Effect.gen(function*() {
 *     const bus = yield* Bus.Bus
 *     yield* bus.publish("shop.orders.placed", yield* TraceContext.inject(envelope))
 *   }).pipe(Effect.withSpan("place order"))
 * ```
 *
 * Header names are compared without case on reading; Herald writes them in
 * lower case, as the W3C specification spells them.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import * as Envelope from "./Envelope.ts"

/**
 * The header names.
 *
 * @since 0.1.0
 * @category constants
 */
export const HeaderNames = {
  traceparent: "traceparent",
  tracestate: "tracestate"
} as const

/**
 * The `tracestate` received with a `traceparent`, kept in the annotations of
 * the `ExternalSpan` that `parentOf` returns.
 *
 * @since 0.1.0
 * @category annotations
 */
export class TraceState extends Context.Service<TraceState, string>()("@herald/transport/TraceContext/TraceState") {}

/*
 * Ids are checked by hand rather than by regular expressions: `toHeaders`
 * runs for every traced message sent and `parentOf` for every one received.
 */

/** `value[start, start + length)` is lower-case hex, and not all zeros unless `zeros`. */
const isHex = (value: string, start: number, length: number, zeros: boolean): boolean => {
  let nonZero = zeros
  for (let i = start; i < start + length; i++) {
    const c = value.charCodeAt(i)
    if (c === 48) continue // "0"
    if (!((c > 48 && c <= 57) || (c >= 97 && c <= 102))) return false
    nonZero = true
  }
  return nonZero
}

/** A W3C trace id (32 lower-case hex digits, not all zeros). */
const isTraceId = (id: string): boolean => id.length === 32 && isHex(id, 0, 32, false)

/** A W3C span id (16 lower-case hex digits, not all zeros). */
const isSpanId = (id: string): boolean => id.length === 16 && isHex(id, 0, 16, false)

/**
 * A `traceparent` of version `00` (`00-<trace id>-<span id>-<flags>`, 55
 * characters, lower case): the span it names, or `undefined`.
 */
const parseTraceparent = (value: string): Tracer.ExternalSpan | undefined => {
  if (
    value.length !== 55 || value.charCodeAt(0) !== 48 || value.charCodeAt(1) !== 48 ||
    value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45 ||
    !isHex(value, 3, 32, false) || !isHex(value, 36, 16, false) || !isHex(value, 53, 2, true)
  ) return undefined
  return Tracer.externalSpan({
    traceId: value.slice(3, 35),
    spanId: value.slice(36, 52),
    sampled: (parseInt(value.slice(53, 55), 16) & 1) === 1
  })
}
// W3C: at most 512 characters are worth propagating; no control characters.
const traceStateValue = /^[\x20-\x7e]{1,512}$/

/** A header's value by name, compared without case. */
const lookup = (headers: Readonly<Record<string, string>>, name: string): string | undefined => {
  const exact = headers[name]
  if (typeof exact === "string") return exact
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) {
      const value = headers[key]
      if (typeof value === "string") return value
    }
  }
  return undefined
}

/**
 * Returns `true` when the headers carry a `traceparent` (any case, any value).
 *
 * @since 0.1.0
 * @category guards
 */
export const hasTraceparent = (headers: Readonly<Record<string, string>>): boolean =>
  lookup(headers, HeaderNames.traceparent) !== undefined

/** The nearest `tracestate` received in this span's trace, walking up its parents. */
const traceStateOf = (span: Tracer.AnySpan): string | undefined => {
  let current: Tracer.AnySpan | undefined = span
  while (current !== undefined) {
    if (current.traceId !== span.traceId) return undefined
    const state: Option.Option<string> = Context.getOption(current.annotations, TraceState)
    if (Option.isSome(state)) return state.value
    current = current._tag === "Span" ? Option.getOrUndefined(current.parent) : undefined
  }
  return undefined
}

const disabled = (span: Tracer.AnySpan): boolean => Context.get(span.annotations, Tracer.DisablePropagation)

/**
 * The trace context of a span as headers: `traceparent` (version `00`) and,
 * when one was received in its trace, `tracestate`. Empty for a span whose
 * ids are not W3C ids (the no-op span of disabled tracing) or whose
 * propagation is disabled.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toHeaders = (span: Tracer.AnySpan): Record<string, string> => {
  if (disabled(span)) return {}
  const trace = span.traceId.length === 16 ? span.traceId.padStart(32, "0") : span.traceId
  if (!isTraceId(trace) || !isSpanId(span.spanId)) return {}
  const headers: Record<string, string> = {
    [HeaderNames.traceparent]: `00-${trace}-${span.spanId}-${span.sampled ? "01" : "00"}`
  }
  const state = traceStateOf(span)
  if (state !== undefined) headers[HeaderNames.tracestate] = state
  return headers
}

/**
 * The current span's trace context as headers (see `toHeaders`); empty when
 * there is no current span.
 *
 * @since 0.1.0
 * @category accessors
 */
export const headers: Effect.Effect<Record<string, string>> = Effect.map(
  Effect.option(Effect.currentParentSpan),
  (span) => Option.isSome(span) ? toHeaders(span.value) : {}
)

/**
 * The envelope with `context`'s headers added, unless it already carries a
 * `traceparent` (then it is returned as it is). Pure: `inject` is this with
 * the current span's context.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withContext = (envelope: Envelope.Envelope, context: Readonly<Record<string, string>>): Envelope.Envelope =>
  context[HeaderNames.traceparent] === undefined || hasTraceparent(envelope.headers)
    ? envelope
    : Envelope.withHeaders(envelope, context)

/**
 * The envelope with the current span's `traceparent` (and `tracestate`)
 * added, unless it already carries a `traceparent` or there is no current
 * span.
 *
 * @since 0.1.0
 * @category combinators
 */
export const inject = (envelope: Envelope.Envelope): Effect.Effect<Envelope.Envelope> =>
  Effect.map(headers, (context) => withContext(envelope, context))

/**
 * The span a message's W3C `traceparent` names (version `00`, valid ids),
 * with its `tracestate` in the annotations (`TraceState`); `None` when there
 * is no valid `traceparent`. B3 headers are not read.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parentOf = (headers: Readonly<Record<string, string>>): Option.Option<Tracer.ExternalSpan> => {
  const traceparent = lookup(headers, HeaderNames.traceparent)
  if (traceparent === undefined) return Option.none()
  // What Herald writes parses as it is; anything else is trimmed and lower-cased first.
  const parsed = parseTraceparent(traceparent) ?? parseTraceparent(traceparent.trim().toLowerCase())
  if (parsed === undefined) return Option.none()
  const state = lookup(headers, HeaderNames.tracestate)?.trim()
  if (state === undefined || !traceStateValue.test(state)) return Option.some(parsed)
  return Option.some(Tracer.externalSpan({
    traceId: parsed.traceId,
    spanId: parsed.spanId,
    sampled: parsed.sampled,
    annotations: Context.make(TraceState, state)
  }))
}
