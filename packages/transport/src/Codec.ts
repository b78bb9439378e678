/**
 * The body codec: how a Schema-encoded payload becomes bytes and back.
 *
 * JSON is the default. A codec is a plain value; `Message` definitions take
 * one, and `Codec.Codec` is also a service so that an application can swap the
 * codec for all of its definitions at once.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"

/**
 * Turns encoded payloads (JSON-compatible values) into bytes and back.
 * Neither function throws: failures are `Result.fail` with a readable text.
 *
 * @since 0.1.0
 * @category models
 */
export interface BodyCodec {
  readonly contentType: string
  readonly encode: (value: unknown) => Result.Result<Uint8Array, string>
  readonly decode: (bytes: Uint8Array) => Result.Result<unknown, string>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

const errorText = (u: unknown): string => (u instanceof Error ? u.message : String(u))

/**
 * UTF-8 JSON.
 *
 * @since 0.1.0
 * @category codecs
 */
export const json: BodyCodec = {
  contentType: "application/json",
  encode: (value) =>
    Result.flatMap(
      Result.try({ try: () => JSON.stringify(value) as string | undefined, catch: errorText }),
      (text) => text === undefined ? Result.fail("value has no JSON form") : Result.succeed(encoder.encode(text))
    ),
  decode: (bytes) => Result.try({ try: () => JSON.parse(decoder.decode(bytes)) as unknown, catch: errorText })
}

/**
 * The codec service, for applications that replace JSON everywhere.
 *
 * @since 0.1.0
 * @category services
 */
export class Codec extends Context.Service<Codec, BodyCodec>()("@herald/transport/Codec") {}

/**
 * Provides the JSON codec.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerJson: Layer.Layer<Codec> = Layer.succeed(Codec, json)
