/**
 * Shared pieces of the fuzz suites (`packages/*\/test/fuzz.test.ts`): hostile
 * inputs and the harness that runs a public function on them.
 *
 * Every case must return (a value or a typed error), never throw, and finish
 * within {@link hangGuardMillis}. That bound is a guard against a hang or a
 * runaway loop, not a measure of speed: every input here is handled in
 * milliseconds.
 */
import * as fc from "fast-check"

/** Cases per fuzzed function. */
export const runs = 1_000

/** A case taking longer than this is taken for a hang. */
export const hangGuardMillis = 1_000

/** Names that reach `Object.prototype` when used carelessly as keys. */
export const prototypeKeys: ReadonlyArray<string> = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty"]

const c0 = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i))

/** Characters that break subjects, ids and header blocks. */
export const hostileChars: ReadonlyArray<string> = [
  ...c0,
  "\u007f",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\ufeff",
  "\ud800",
  "\udfff",
  " ",
  ".",
  "*",
  ">",
  ":",
  "{",
  "}",
  "\"",
  "\\",
  "é",
  "😀",
  "a",
  "b",
  "Z",
  "0",
  "-",
  "_"
]

/** 1 MiB of one character. */
export const oneMegabyte = (char = "x"): string => char.repeat(1 << 20)

/**
 * Strings likely to break a parser: arbitrary code units, hostile characters
 * between ordinary ones, prototype names, and (rarely) 1 MiB values.
 */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...hostileChars), maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(...prototypeKeys) },
  { weight: 1, arbitrary: fc.constantFrom("", "NATS/1.0", "NATS/1.0 400 Bad Request", "a".repeat(4097)) },
  { weight: 1, arbitrary: fc.constantFrom(...hostileChars).map(oneMegabyte) }
)

/** An object or array nested `depth` levels deep. */
export const nested = (depth: number, array: boolean): unknown => {
  let value: unknown = "leaf"
  for (let i = 0; i < depth; i++) value = array ? [value] : { a: value }
  return value
}

/** Deeply nested objects and arrays (up to 100,000 levels). */
export const deep: fc.Arbitrary<unknown> = fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.boolean()).map((
  [depth, array]
) => nested(depth, array))

/**
 * Any JavaScript value but a string: primitives, objects with prototype-named
 * keys, null-prototype objects, boxed values, deep nesting.
 */
export const notString: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(undefined, null, 0, -1, Number.NaN, Infinity, true, false, 10n, Symbol("s"), () => "a"),
  fc.anything({
    key: fc.oneof(fc.string(), fc.constantFrom(...prototypeKeys)),
    maxDepth: 4,
    withBoxedValues: true,
    withNullPrototype: true,
    withMap: true,
    withSet: true,
    withBigInt: true,
    withDate: true,
    withTypedArray: true
  }).filter((u) => typeof u !== "string"),
  deep
)

/** Any value: mostly hostile strings, otherwise anything else. */
export const anyInput: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: hostileString }, notString)

/**
 * A record of header-like entries: hostile names (empty, with spaces,
 * colons, control characters, prototype names) and values (hostile strings,
 * or values that are not strings). Built with `defineProperty`, so a
 * `__proto__` key is an own property as `JSON.parse` would make it.
 */
export const hostileRecord = (
  base: fc.Arbitrary<Record<string, unknown>> = fc.constant({})
): fc.Arbitrary<Record<string, unknown>> =>
  fc.tuple(
    base,
    fc.array(
      fc.tuple(
        fc.oneof(hostileString, fc.constantFrom(...prototypeKeys)),
        fc.oneof({ weight: 4, arbitrary: hostileString }, notString)
      ),
      { maxLength: 6 }
    )
  ).map(([start, entries]) => {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(start)) define(out, key, start[key])
    for (const [key, value] of entries) define(out, key, value)
    return out
  })

const define = (target: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/**
 * Runs `f` on {@link runs} generated inputs. Each call must return, within
 * {@link hangGuardMillis}, a value that `check` accepts (`check` throws to
 * reject it). Returns the number of cases run.
 */
export const fuzz = <A, B>(
  arbitrary: fc.Arbitrary<A>,
  f: (input: A) => B,
  check: (output: B, input: A) => void,
  numRuns: number = runs
): number => {
  let cases = 0
  fc.assert(
    fc.property(arbitrary, (input) => {
      cases++
      const start = performance.now()
      const output = f(input)
      const elapsed = performance.now() - start
      if (elapsed > hangGuardMillis) throw new Error(`a case took ${Math.round(elapsed)} ms`)
      check(output, input)
    }),
    { numRuns }
  )
  return cases
}

/**
 * The own properties of `Object.prototype` and `Array.prototype` with their
 * values, to compare before and after a run.
 */
export const prototypeSnapshot = (): ReadonlyArray<readonly [string, unknown]> => {
  const out: Array<readonly [string, unknown]> = []
  for (const [label, proto] of [["Object", Object.prototype], ["Array", Array.prototype]] as const) {
    for (const key of Reflect.ownKeys(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)!
      out.push([`${label}.${String(key)}`, descriptor.value ?? descriptor.get])
    }
    out.push([`${label} prototype`, Object.getPrototypeOf(proto)])
  }
  return out
}
