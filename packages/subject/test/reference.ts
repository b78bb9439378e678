/**
 * Brute-force reference for the pattern algebra, used by the property tests.
 *
 * Patterns have 1..4 tokens over {a, b, c, *} with a last token over
 * {a, b, c, *, >}. The universe holds every concrete subject of 1..5 tokens
 * over {a, b, c} plus the fresh token `z` (a token no pattern mentions, so `*`
 * and `>` can match something no literal does).
 *
 * Why length 5 is enough: a pattern of n <= 4 tokens distinguishes subjects
 * only by their first n tokens and whether they are longer than n. So
 * - overlap: if two patterns share any subject, they share one of length
 *   max(len a, len b) <= 4 (replace the tail beyond that by nothing, or
 *   extend with `z` to satisfy a `>`);
 * - containment: a counterexample (matched by b, not by a) can be shortened
 *   or lengthened to max(len a, len b) + 1 <= 5 tokens and stays one.
 */
import * as fc from "fast-check"

export const alphabet: ReadonlyArray<string> = ["a", "b", "c", "z"]

/** The specification of NATS matching, as a recursive definition over tokens. */
export const refMatches = (p: ReadonlyArray<string>, s: ReadonlyArray<string>): boolean => {
  if (p.length === 0) return s.length === 0
  const head = p[0]!
  if (head === ">") return p.length === 1 && s.length >= 1
  if (s.length === 0) return false
  if (head !== "*" && head !== s[0]) return false
  return refMatches(p.slice(1), s.slice(1))
}

const sequences = (tokens: ReadonlyArray<string>, length: number): Array<Array<string>> => {
  if (length === 0) return [[]]
  const out: Array<Array<string>> = []
  for (const rest of sequences(tokens, length - 1)) {
    for (const t of tokens) out.push([...rest, t])
  }
  return out
}

export const universe: ReadonlyArray<ReadonlyArray<string>> = [1, 2, 3, 4, 5].flatMap((n) => sequences(alphabet, n))

/** Some subject of the universe matches both patterns (a witness exists). */
export const refOverlaps = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  universe.some((s) => refMatches(a, s) && refMatches(b, s))

/** No subject of the universe is matched by `b` but not by `a` (no counterexample). */
export const refContains = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  universe.every((s) => !refMatches(b, s) || refMatches(a, s))

const bodyToken = ["a", "b", "c", "*"]
const lastToken = ["a", "b", "c", "*", ">"]

export const patternArb: fc.Arbitrary<ReadonlyArray<string>> = fc
  .tuple(fc.array(fc.constantFrom(...bodyToken), { maxLength: 3 }), fc.constantFrom(...lastToken))
  .map(([body, last]) => [...body, last])

export const subjectArb: fc.Arbitrary<ReadonlyArray<string>> = fc.array(fc.constantFrom(...alphabet), {
  minLength: 1,
  maxLength: 6
})

/** Every pattern the generator can produce. */
export const allPatterns: ReadonlyArray<ReadonlyArray<string>> = [0, 1, 2, 3].flatMap((n) =>
  sequences(bodyToken, n).flatMap((body) => lastToken.map((last) => [...body, last]))
)
