/**
 * The handler middlewares of Herald, one module each under `middleware/`:
 *
 * | middleware | what it does | adds to the failure |
 * |---|---|---|
 * | `decode`, `decodeAny`, `router` | envelope → typed payload, by definition or by type | `DecodeError` (non-retryable) |
 * | `retry` | retries in process while the failure is retryable | the schedule's error |
 * | `timeout` | interrupts a slow call | `Timeout` (retryable) |
 * | `circuitBreaker` | fails fast while a dependency keeps failing | `CircuitOpen` (retryable) |
 * | `dedupe` | skips a message id handled within a TTL | nothing |
 * | `deadLetter` | dead-letters and terms a delivery that cannot succeed | the append's error |
 *
 * A middleware is a function `Handler → Handler` (see `Handler`): apply it
 * directly or with `Handler.pipe`. `circuitBreaker` and `dedupe` keep state,
 * so they are made by an effect; the value they give is the middleware.
 *
 * ```ts
 * const breaker = yield* Middleware.circuitBreaker({ name: "db", maxFailures: 5, resetAfter: "30 seconds" })
 * const dedupe = yield* Middleware.dedupe({ ttl: "10 minutes" })
 * const handle = Handler.pipe(
 *   Middleware.decode(OrderPlaced, (order) => store(order)),
 *   Middleware.timeout("5 seconds"),
 *   breaker,
 *   Middleware.retry({ times: 3, schedule: Schedule.exponential("100 millis") }),
 *   dedupe,
 *   Middleware.deadLetter({ maxDeliveries: 5 })
 * )
 * ```
 *
 * @since 0.1.0
 */

/**
 * Decoding: `decode`, `decodeAny`, `route`, `router`.
 *
 * @since 0.1.0
 * @category decoding
 */
export {
  decode,
  type Decoded,
  decodeAny,
  type DecodingServices,
  type Definitions,
  type DefinitionsOf,
  type Route,
  route,
  router,
  type RoutesError,
  type RoutesInput,
  type RoutesServices
} from "./middleware/decode.ts"

/**
 * In-process retries while the failure is retryable.
 *
 * @since 0.1.0
 * @category middleware
 */
export { retry, type RetryOptions } from "./middleware/retry.ts"

/**
 * A deadline per call, failing with a retryable `Timeout`.
 *
 * @since 0.1.0
 * @category middleware
 */
export { timeout } from "./middleware/timeout.ts"

/**
 * The circuit breaker module: `CircuitBreaker.make`, its `State` and `Options`.
 *
 * @since 0.1.0
 * @category middleware
 */
export * as CircuitBreaker from "./middleware/circuitBreaker.ts"

/**
 * Creates a circuit breaker (`CircuitBreaker.make`).
 *
 * @since 0.1.0
 * @category middleware
 */
export { make as circuitBreaker } from "./middleware/circuitBreaker.ts"

/**
 * The dedupe module: `Dedupe.make` and its `Options`.
 *
 * @since 0.1.0
 * @category middleware
 */
export * as Dedupe from "./middleware/dedupe.ts"

/**
 * Creates an in-memory dedupe by message id (`Dedupe.make`).
 *
 * @since 0.1.0
 * @category middleware
 */
export { make as dedupe } from "./middleware/dedupe.ts"

/**
 * Dead-letters and terms `EventLog` deliveries that cannot succeed.
 *
 * @since 0.1.0
 * @category middleware
 */
export { deadLetter, type Options as DeadLetterOptions } from "./middleware/deadLetter.ts"
