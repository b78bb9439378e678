/**
 * How error messages quote input.
 *
 * @internal
 */

/**
 * At most this many characters of an input are quoted in a message.
 *
 * @internal
 */
export const QUOTE_MAX = 64

/**
 * An input as quoted in an error message: JSON-quoted, and cut at
 * {@link QUOTE_MAX} characters with its length after the cut
 * (`"aaaa"…(5000 chars)`), so that a huge input never makes a huge message.
 *
 * @internal
 */
export const quote = (input: string): string =>
  input.length > QUOTE_MAX ? `${JSON.stringify(input.slice(0, QUOTE_MAX))}…(${input.length} chars)` : JSON.stringify(input)

/**
 * What a value is, for a message about a value of the wrong type:
 * `undefined`, `null`, `an array`, `a number`, `an object`...
 *
 * @internal
 */
export const typeName = (u: unknown): string => {
  if (u === null) return "null"
  if (u === undefined) return "undefined"
  if (Array.isArray(u)) return "an array"
  const t = typeof u
  return t === "object" ? "an object" : `a ${t}`
}
