/**
 * Decoding middleware: from envelopes to typed payloads.
 *
 * `decode` builds a handler for one message definition: it decodes the
 * envelope with `definition.decode` and hands the payload (and the incoming
 * message, for its subject and identity) to a typed handler. An envelope of
 * another type, a body that is not JSON, or a payload that does not match the
 * Schema fails with a `DecodeError`, which is never retryable: the consumer
 * runner dead-letters the message instead of retrying it.
 *
 * `decodeAny` decodes one of several definitions, chosen by `envelope.type`,
 * into a tagged value `{ type, kind, payload }`; `router` dispatches to one
 * handler per definition (see `route`). An envelope whose type no definition
 * names is a `DecodeError` too, unless `router` is given an `onUnknown`
 * handler.
 *
 * ```ts
 * const handle = Middleware.router([
 *   Middleware.route(OrderPlaced, (order) => reserveStock(order)),
 *   Middleware.route(OrderCancelled, (cancel, incoming) => releaseStock(cancel, incoming.subject))
 * ])
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Bus from "../Bus.ts"
import type * as Envelope from "../Envelope.ts"
import type * as Handler from "../Handler.ts"
import type * as Message from "../Message.ts"
import { quote } from "../internal/quote.ts"
import * as TransportError from "../TransportError.ts"

/**
 * The Schema services a definition needs to decode its payload.
 *
 * @since 0.1.0
 * @category type-level
 */
export type DecodingServices<D> = D extends Message.Definition<string, Envelope.Kind, infer S> ? S["DecodingServices"]
  : never

/**
 * A decoded message of one of several definitions: its type name (the
 * discriminant), its kind and its payload.
 *
 * @since 0.1.0
 * @category models
 */
export type Decoded<D> = D extends Message.Definition<infer Type, infer K, infer S> ?
  { readonly type: Type; readonly kind: K; readonly payload: S["Type"] }
  : never

/**
 * Definitions given as an array or as a record (the keys are only labels;
 * dispatch is by each definition's `type`).
 *
 * @since 0.1.0
 * @category models
 */
export type Definitions = ReadonlyArray<Message.Any> | Readonly<Record<string, Message.Any>>

/**
 * The definitions of a `Definitions` value, as a union.
 *
 * @since 0.1.0
 * @category type-level
 */
export type DefinitionsOf<Defs> = Defs extends ReadonlyArray<infer D> ? D : Defs[keyof Defs]

const unknownType = (envelope: Envelope.Envelope, known: ReadonlyArray<string>): TransportError.TransportError =>
  TransportError.make(
    new TransportError.DecodeError({
      detail: `unknown message type ${quote(envelope.type)}; expected one of ${
        known.map((t) => JSON.stringify(t)).join(", ")
      }`
    })
  )

const index = <D extends Message.Any>(definitions: ReadonlyArray<D>): ReadonlyMap<string, D> => {
  const byType = new Map<string, D>()
  // The first definition of a type wins.
  for (const d of definitions) if (!byType.has(d.type)) byType.set(d.type, d)
  return byType
}

const values = (definitions: Definitions): ReadonlyArray<Message.Any> =>
  Array.isArray(definitions) ? definitions : Object.values(definitions)

/**
 * A handler for one definition: decodes the envelope, then runs `handler`
 * with the payload and the incoming message. Fails with a `DecodeError`
 * (non-retryable) when the envelope is of another type or kind, or its body
 * does not match the Schema; the typed handler is not called then.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = <
  Type extends string,
  K extends Envelope.Kind,
  S extends Schema.Top,
  E,
  R,
  In extends Bus.Incoming = Bus.Incoming
>(
  definition: Message.Definition<Type, K, S>,
  handler: (payload: S["Type"], incoming: In) => Effect.Effect<void, E, R>
): Handler.Handler<In, E | TransportError.TransportError, R | S["DecodingServices"]> =>
(incoming) =>
  Effect.flatMap(
    definition.decode(incoming.envelope) as Effect.Effect<S["Type"], TransportError.TransportError, S["DecodingServices"]>,
    (payload) => handler(payload, incoming)
  )

/**
 * A handler for several definitions: picks the definition by
 * `envelope.type`, decodes the payload and runs `handler` with
 * `{ type, kind, payload }`, whose `type` narrows the payload. An envelope
 * whose type no definition names fails with a non-retryable `DecodeError`.
 *
 * ```ts
 * Middleware.decodeAny([OrderPlaced, OrderCancelled], (message) =>
 *   message.type === "OrderPlaced" ? reserve(message.payload) : release(message.payload))
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeAny = <const Defs extends Definitions, E, R, In extends Bus.Incoming = Bus.Incoming>(
  definitions: Defs,
  handler: (message: Decoded<DefinitionsOf<Defs>>, incoming: In) => Effect.Effect<void, E, R>
): Handler.Handler<In, E | TransportError.TransportError, R | DecodingServices<DefinitionsOf<Defs>>> => {
  const byType = index(values(definitions))
  const known = Array.from(byType.keys())
  return (incoming) => {
    const definition = byType.get(incoming.envelope.type)
    if (definition === undefined) return Effect.fail(unknownType(incoming.envelope, known))
    return Effect.flatMap(
      definition.decode(incoming.envelope) as Effect.Effect<unknown, TransportError.TransportError, never>,
      (payload) =>
        handler(
          { type: definition.type, kind: definition.kind, payload } as Decoded<DefinitionsOf<Defs>>,
          incoming
        )
    )
  }
}

/**
 * One entry of a `router`: a definition and the handler of its payloads.
 *
 * @since 0.1.0
 * @category models
 */
export interface Route<In, E, R> {
  readonly definition: Message.Any
  /** The decoding handler (as built by `decode`). */
  readonly handler: Handler.Handler<In, E, R>
}

/**
 * A route for one definition: `decode(definition, handler)` together with
 * the type it answers.
 *
 * @since 0.1.0
 * @category decoding
 */
export const route = <
  Type extends string,
  K extends Envelope.Kind,
  S extends Schema.Top,
  E,
  R,
  In extends Bus.Incoming = Bus.Incoming
>(
  definition: Message.Definition<Type, K, S>,
  handler: (payload: S["Type"], incoming: In) => Effect.Effect<void, E, R>
): Route<In, E | TransportError.TransportError, R | S["DecodingServices"]> => ({
  definition,
  handler: decode(definition, handler)
})

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never

/**
 * The input a list of routes accepts: what every one of them accepts.
 *
 * @since 0.1.0
 * @category type-level
 */
export type RoutesInput<Routes> = UnionToIntersection<
  Routes extends ReadonlyArray<infer T> ? T extends Route<infer In, infer _E, infer _R> ? In : never : never
>

/**
 * The failures of a list of routes.
 *
 * @since 0.1.0
 * @category type-level
 */
export type RoutesError<Routes> = Routes extends ReadonlyArray<infer T> ?
  T extends Route<infer _In, infer E, infer _R> ? E : never
  : never

/**
 * The services of a list of routes.
 *
 * @since 0.1.0
 * @category type-level
 */
export type RoutesServices<Routes> = Routes extends ReadonlyArray<infer T> ?
  T extends Route<infer _In, infer _E, infer R> ? R : never
  : never

/**
 * Dispatches by `envelope.type` to the route of that type (the first one,
 * when two routes name the same type). An envelope of a type no route names
 * fails with a non-retryable `DecodeError`, or goes to `onUnknown` when given
 * (for instance `() => Effect.void` to acknowledge and ignore it).
 *
 * @since 0.1.0
 * @category decoding
 */
export const router: {
  <const Routes extends ReadonlyArray<Route<any, any, any>>>(
    routes: Routes
  ): Handler.Handler<
    RoutesInput<Routes>,
    RoutesError<Routes> | TransportError.TransportError,
    RoutesServices<Routes>
  >
  <const Routes extends ReadonlyArray<Route<any, any, any>>, E2, R2>(
    routes: Routes,
    options: { readonly onUnknown: Handler.Handler<RoutesInput<Routes>, E2, R2> }
  ): Handler.Handler<RoutesInput<Routes>, RoutesError<Routes> | E2, RoutesServices<Routes> | R2>
} = (
  routes: ReadonlyArray<Route<Bus.Incoming, unknown, unknown>>,
  options?: { readonly onUnknown: Handler.Handler<Bus.Incoming, unknown, unknown> }
): any => {
  const byType = new Map<string, Handler.Handler<Bus.Incoming, unknown, unknown>>()
  for (const r of routes) if (!byType.has(r.definition.type)) byType.set(r.definition.type, r.handler)
  const known = Array.from(byType.keys())
  return (incoming: Bus.Incoming) => {
    const handler = byType.get(incoming.envelope.type)
    if (handler !== undefined) return handler(incoming)
    if (options !== undefined) return options.onUnknown(incoming)
    return Effect.fail(unknownType(incoming.envelope, known))
  }
}
