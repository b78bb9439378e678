/**
 * What the stores that keep their data in NATS KV buckets share (the inbox,
 * saga and snapshot stores): key tokens for arbitrary strings, bucket names,
 * and calls to the bucket whose failures become the store's typed errors,
 * with a compare-and-set refusal told apart from a failure.
 *
 * The buckets themselves come from `@nats-io/kv` (`new Kvm(connection.jetstream)`),
 * an optional peer of each store's `/kv` entry point; this module does not
 * import it.
 *
 * @since 0.1.0
 */
import type { TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as NatsConnection from "./NatsConnection.ts"

const safe = /^[A-Za-z0-9_-]$/
const encoder = new TextEncoder()

/**
 * A KV key token for any string: letters, digits, `_` and `-` stay; any
 * other byte of its UTF-8 encoding becomes `=XX` (hex). Injective, and a
 * valid KV key token (no `.`, `*`, `>`). The empty string is `=`.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyToken = (s: string): string => {
  if (s.length === 0) return "="
  let out = ""
  for (const ch of s) {
    if (safe.test(ch)) out += ch
    else for (const b of encoder.encode(ch)) out += `=${b.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

const bucketName = /^[A-Za-z0-9_-]+$/

/**
 * Whether a bucket name is one KV accepts: letters, digits, `_` and `-`.
 *
 * @since 0.1.0
 * @category buckets
 */
export const isBucketName = (u: unknown): u is string => typeof u === "string" && bucketName.test(u)

/**
 * Whether a KV failure is the server refusing a create or a compare-and-set
 * because the key is not at the expected revision.
 *
 * @since 0.1.0
 * @category errors
 */
export const isWrongLast = (e: unknown): boolean =>
  (Predicate.hasProperty(e, "code") && (e.code === 10071 || e.code === 10164)) ||
  (e instanceof Error && /wrong last sequence|key exists/i.test(e.message))

/**
 * Calls to one bucket: `call` turns a failure into the store's error (the
 * cause mapped by `NatsConnection.mapError`); `conditional` answers `None`
 * when the server refuses a create or compare-and-set (`isWrongLast`).
 *
 * @since 0.1.0
 * @category calls
 */
export const calls = <E>(
  bucket: string,
  toError: (operation: string, cause: TransportError.TransportError) => E
) => {
  const label = `KV bucket ${bucket}`
  const fail = (operation: string, e: unknown) =>
    toError(`${operation} (${label})`, NatsConnection.mapError(e, `${operation} (${label})`))
  const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, E> =>
    Effect.tryPromise({ try: f, catch: (e) => fail(operation, e) })
  const conditional = <A>(operation: string, f: () => Promise<A>): Effect.Effect<Option.Option<A>, E> =>
    Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
      Effect.map(Option.some),
      Effect.catch((e) => isWrongLast(e) ? Effect.succeed(Option.none<A>()) : Effect.fail(fail(operation, e)))
    )
  return { label, call, conditional }
}
