/**
 * `@herald/testing`: the Herald test kit. An in-memory `Bus`, `EventLog` and
 * `Topology` with JetStream semantics, the transport conformance suite,
 * message capture, envelope fixtures and causation assertions.
 *
 * @since 0.1.0
 */

/**
 * The in-memory transport: `Bus`, `EventLog` and `Topology` in one layer.
 *
 * @since 0.1.0
 */
export * as MemoryTransport from "./MemoryTransport.ts"

/**
 * The conformance suite every transport runs.
 *
 * @since 0.1.0
 */
export * as Conformance from "./Conformance.ts"

/**
 * Scoped capture of the messages of a subject pattern.
 *
 * @since 0.1.0
 */
export * as Capture from "./Capture.ts"

/**
 * Deterministic envelope fixtures and malformed raw messages.
 *
 * @since 0.1.0
 */
export * as Fixtures from "./Fixtures.ts"

/**
 * Assertions about causation and correlation.
 *
 * @since 0.1.0
 */
export * as CausationAssert from "./CausationAssert.ts"
export * as NatsServer from "./NatsServer.ts"
export * as TestDatabase from "./TestDatabase.ts"
export * as Wait from "./Wait.ts"
