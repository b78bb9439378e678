/**
 * Message definitions: a type name, a kind and a payload Schema.
 *
 * A definition turns a typed payload into an `Envelope` (Schema-encode, then
 * the body codec) and an envelope back into a typed payload. Decoding never
 * throws: a body that is not JSON, a payload that does not match the Schema,
 * or an envelope of another type is a `DecodeError` saying what was wrong.
 *
 * ```ts
 * const OrderPlaced = Message.event("OrderPlaced", Schema.Struct({ orderId: Schema.String }))
 * const envelope = yield* OrderPlaced.make({ orderId: "o-1" }, { identity })
 * const payload = yield* OrderPlaced.decode(envelope)
 * ```
 *
 * @since 0.1.0
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Codec from "./Codec.ts"
import type * as Envelope from "./Envelope.ts"
import * as TransportError from "./TransportError.ts"

/**
 * Options when building an envelope from a payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly identity: MessageIdentity.MessageIdentity
  readonly occurredAt?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * A message definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition<Type extends string, K extends Envelope.Kind, S extends Schema.Top> {
  readonly type: Type
  readonly kind: K
  readonly schema: S
  readonly codec: Codec.BodyCodec
  /** Encodes a payload into an envelope with the given identity. */
  readonly make: (
    payload: S["Type"],
    options: MakeOptions
  ) => Effect.Effect<Envelope.Envelope, TransportError.TransportError, S["EncodingServices"]>
  /** A new root message: a fresh id from `IdGenerator`, correlation = causation = its id. */
  readonly root: (
    payload: S["Type"],
    options?: Omit<MakeOptions, "identity">
  ) => Effect.Effect<Envelope.Envelope, TransportError.TransportError, S["EncodingServices"] | IdGenerator.IdGenerator>
  /** A message caused by `parent`: same correlation, causation = the parent's message id. */
  readonly causedBy: (
    parent: Envelope.Envelope | MessageIdentity.MessageIdentity,
    payload: S["Type"],
    options?: Omit<MakeOptions, "identity">
  ) => Effect.Effect<Envelope.Envelope, TransportError.TransportError, S["EncodingServices"] | IdGenerator.IdGenerator>
  /** Decodes an envelope of this type; another type or a bad body is a `DecodeError`. */
  readonly decode: (
    envelope: Envelope.Envelope
  ) => Effect.Effect<S["Type"], TransportError.TransportError, S["DecodingServices"]>
  /** Whether an envelope carries this type and kind. */
  readonly is: (envelope: Envelope.Envelope) => boolean
}

/**
 * Any definition. (The schema parameter is `any`: a definition's functions
 * take its payload type as a parameter, so `Definition<_, _, S>` is not
 * assignable to `Definition<_, _, Schema.Top>`.)
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Definition<string, Envelope.Kind, any>

/**
 * The payload type of a definition.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Payload<D> = D extends Definition<string, Envelope.Kind, infer S> ? S["Type"] : never

const decodeError = (detail: string, cause?: unknown) =>
  TransportError.make(
    cause === undefined ? new TransportError.DecodeError({ detail }) : new TransportError.DecodeError({ detail, cause })
  )

/**
 * Defines a message of any kind.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Type extends string, K extends Envelope.Kind, S extends Schema.Top>(
  kind: K,
  type: Type,
  schema: S,
  options?: { readonly codec?: Codec.BodyCodec | undefined }
): Definition<Type, K, S> => {
  const codec = options?.codec ?? Codec.json
  const jsonCodec = Schema.toCodecJson(schema)
  const encodeJson = Schema.encodeUnknownEffect(jsonCodec)
  const decodeJson = Schema.decodeUnknownEffect(jsonCodec)
  const encodeFailure = (e: Schema.SchemaError) =>
    TransportError.make(new TransportError.EncodeError({ detail: `${type}: ${e.message}`, cause: e }))
  // Per message: no generator and no extra steps. A Schema without async or
  // service-using transformations encodes to an `Exit` at once (Effect's
  // parser is eager), which is read here directly; the time comes from the
  // fiber's `Clock` unless given.
  const finish = (
    json: unknown,
    opts: MakeOptions
  ): Effect.Effect<Envelope.Envelope, TransportError.TransportError> => {
    const bytes = codec.encode(json)
    if (Result.isFailure(bytes)) {
      return Effect.fail(
        TransportError.make(new TransportError.EncodeError({ detail: `${type}: ${bytes.failure}` }))
      )
    }
    const envelope = (occurredAt: number): Envelope.Envelope => ({
      identity: opts.identity,
      type,
      kind,
      occurredAt,
      contentType: codec.contentType,
      headers: opts.headers ?? {},
      body: bytes.success
    })
    return opts.occurredAt !== undefined
      ? Effect.succeed(envelope(opts.occurredAt))
      : Effect.clockWith((clock) => Effect.succeed(envelope(clock.currentTimeMillisUnsafe())))
  }
  const make = (payload: S["Type"], opts: MakeOptions) => {
    const encoded = encodeJson(payload)
    if (Exit.isExit(encoded) && Exit.isSuccess(encoded)) return finish(encoded.value, opts)
    return Effect.flatMap(Effect.mapError(encoded, encodeFailure), (json) => finish(json, opts))
  }
  const withoutIdentity = (o: Omit<MakeOptions, "identity"> | undefined) => ({
    occurredAt: o?.occurredAt,
    headers: o?.headers
  })
  return {
    type,
    kind,
    schema,
    codec,
    make: make as Definition<Type, K, S>["make"],
    root: (payload, opts) =>
      Effect.flatMap(MessageIdentity.makeRoot, (identity) => make(payload, { ...withoutIdentity(opts), identity })),
    causedBy: (parent, payload, opts) =>
      Effect.flatMap(
        MessageIdentity.makeDerived("identity" in parent ? parent.identity : parent),
        (identity) => make(payload, { ...withoutIdentity(opts), identity })
      ),
    decode: (envelope) => {
      if (envelope.type !== type) {
        return Effect.fail(decodeError(`expected a ${type}, got a ${envelope.type}`))
      }
      if (envelope.kind !== kind) {
        return Effect.fail(decodeError(`${type}: expected kind ${kind}, got ${envelope.kind}`))
      }
      if (envelope.contentType !== codec.contentType) {
        return Effect.fail(
          decodeError(`${type}: expected content type ${codec.contentType}, got ${envelope.contentType}`)
        )
      }
      const json = codec.decode(envelope.body)
      if (Result.isFailure(json)) return Effect.fail(decodeError(`${type}: body: ${json.failure}`))
      const decoded = decodeJson(json.success)
      // A Schema that decodes at once gives an `Exit`: a success is returned as it is.
      if (Exit.isExit(decoded) && Exit.isSuccess(decoded)) return Effect.succeed(decoded.value as S["Type"])
      return Effect.mapError(decoded, (e) => decodeError(`${type}: ${e.message}`, e)) as Effect.Effect<
        S["Type"],
        TransportError.TransportError,
        S["DecodingServices"]
      >
    },
    is: (envelope) => envelope.type === type && envelope.kind === kind
  }
}

/**
 * Defines an event: something that happened.
 *
 * @since 0.1.0
 * @category constructors
 */
export const event = <const Type extends string, S extends Schema.Top>(
  type: Type,
  schema: S,
  options?: { readonly codec?: Codec.BodyCodec | undefined }
): Definition<Type, "event", S> => make("event", type, schema, options)

/**
 * Defines a command: a request that something be done.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command = <const Type extends string, S extends Schema.Top>(
  type: Type,
  schema: S,
  options?: { readonly codec?: Codec.BodyCodec | undefined }
): Definition<Type, "command", S> => make("command", type, schema, options)

/**
 * Defines a query: a question with a reply.
 *
 * @since 0.1.0
 * @category constructors
 */
export const query = <const Type extends string, S extends Schema.Top>(
  type: Type,
  schema: S,
  options?: { readonly codec?: Codec.BodyCodec | undefined }
): Definition<Type, "query", S> => make("query", type, schema, options)

/**
 * Defines a reply to a query or command.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reply = <const Type extends string, S extends Schema.Top>(
  type: Type,
  schema: S,
  options?: { readonly codec?: Codec.BodyCodec | undefined }
): Definition<Type, "reply", S> => make("reply", type, schema, options)
