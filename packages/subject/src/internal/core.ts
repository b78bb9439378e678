/**
 * Shared, allocation-light primitives: validation, tokenizing, matching.
 *
 * @internal
 */
import * as SubjectError from "../SubjectError.ts"
import { quote, typeName } from "./quote.ts"

export { quote, typeName }

/** @internal */
export const DOT = 46
/** @internal */
export const STAR = 42
/** @internal */
export const GT = 62

/**
 * Mirrors the JavaScript `\s` character class.
 *
 * @internal
 */
export const isWhitespace = (c: number): boolean =>
  c <= 32
    ? c === 32 || (c >= 9 && c <= 13)
    : c >= 160 &&
      (c === 160 || c === 5760 || (c >= 8192 && c <= 8202) || c === 8232 || c === 8233 || c === 8239 ||
        c === 8287 || c === 12288 || c === 65279)

/**
 * A C0 control character (U+0000 to U+001F) that is not whitespace.
 *
 * @internal
 */
export const isControl = (c: number): boolean => c < 32 && !(c >= 9 && c <= 13)

const isTokenChar = (c: number): boolean =>
  c > 32 && c < 127 ? c !== DOT && c !== STAR && c !== GT : c > 32 && c !== DOT && !isWhitespace(c)

/**
 * The `WrongType` error of a value that should have been a string.
 *
 * @internal
 */
export const notAString = (u: unknown): SubjectError.SubjectError =>
  SubjectError.fromReason(new SubjectError.WrongType({ expected: "a string", actual: typeName(u) }))

/**
 * Validates `input` as a subject (`pattern = false`) or a pattern
 * (`pattern = true`). Returns `undefined` when valid.
 *
 * Priority: empty, too long, the first whitespace or C0 control character
 * anywhere, then the first token (left to right) that breaks a token rule.
 *
 * @internal
 */
export const validate = (input: string, pattern: boolean): SubjectError.SubjectErrorReason | undefined => {
  const len = input.length
  if (len === 0) return new SubjectError.Empty({ input })
  if (len > SubjectError.MAX_LENGTH) {
    return new SubjectError.TooLong({ input, length: len, max: SubjectError.MAX_LENGTH })
  }
  // 0 none, 1 empty token, 2 wildcard in subject, 3 partial wildcard, 4 full wildcard not last
  let kind = 0
  let errToken = 0
  let errPosition = 0
  let token = 0
  let start = 0
  let wild = -1
  for (let i = 0; i <= len; i++) {
    const c = i < len ? input.charCodeAt(i) : DOT
    if (c === DOT) {
      if (kind === 0) {
        if (i === start) {
          kind = 1
          errToken = token
          errPosition = start
        } else if (wild >= 0) {
          if (!pattern) {
            kind = 2
            errToken = token
            errPosition = wild
          } else if (i - start > 1) {
            kind = 3
            errToken = token
            errPosition = wild
          } else if (i < len && input.charCodeAt(wild) === GT) {
            kind = 4
            errToken = token
            errPosition = wild
          }
        }
      }
      token++
      start = i + 1
      wild = -1
    } else if (c === STAR || c === GT) {
      if (wild < 0) wild = i
    } else if (isControl(c)) {
      return new SubjectError.ControlCharacter({ input, position: i })
    } else if (isWhitespace(c)) {
      return new SubjectError.Whitespace({ input, position: i })
    }
  }
  switch (kind) {
    case 1:
      return new SubjectError.EmptyToken({ input, token: errToken, position: errPosition })
    case 2:
      return new SubjectError.WildcardInSubject({ input, token: errToken, position: errPosition })
    case 3:
      return new SubjectError.PartialWildcard({ input, token: errToken, position: errPosition })
    case 4:
      return new SubjectError.FullWildcardNotLast({ input, token: errToken, position: errPosition })
    default:
      return undefined
  }
}

/**
 * {@link validate} for a value of any type: a value that is not a string is
 * a `WrongType` reason.
 *
 * @internal
 */
export const validateUnknown = (input: unknown, pattern: boolean): SubjectError.SubjectErrorReason | undefined =>
  typeof input === "string"
    ? validate(input, pattern)
    : new SubjectError.WrongType({ expected: "a string", actual: typeName(input) })

/**
 * Allocation-free validity check of a concrete subject.
 *
 * @internal
 */
export const isValidSubject = (s: unknown): boolean => {
  if (typeof s !== "string") return false
  const len = s.length
  if (len === 0 || len > SubjectError.MAX_LENGTH) return false
  let start = 0
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c === DOT) {
      if (i === start) return false
      start = i + 1
    } else if (!isTokenChar(c)) {
      return false
    }
  }
  return start < len
}

/**
 * Splits a concrete subject into tokens, or returns `undefined` when it is not
 * a valid subject.
 *
 * @internal
 */
export const tokenizeSubject = (s: unknown): Array<string> | undefined => {
  if (typeof s !== "string") return undefined
  const len = s.length
  if (len === 0 || len > SubjectError.MAX_LENGTH) return undefined
  const out: Array<string> = []
  let start = 0
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c === DOT) {
      if (i === start) return undefined
      out.push(s.slice(start, i))
      start = i + 1
    } else if (!isTokenChar(c)) {
      return undefined
    }
  }
  if (start === len) return undefined
  out.push(s.slice(start))
  return out
}

const validTail = (s: string, from: number, len: number): boolean => {
  let start = from
  for (let i = from; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c === DOT) {
      if (i === start) return false
      start = i + 1
    } else if (!isTokenChar(c)) {
      return false
    }
  }
  return start < len
}

/**
 * Does the (valid) pattern `p` match the string `s`? Strings that are not
 * valid concrete subjects never match. Walks both strings once, no
 * allocation.
 *
 * @internal
 */
export const matches = (p: string, s: string): boolean => {
  if (typeof p !== "string" || typeof s !== "string") return false
  const pl = p.length
  const sl = s.length
  if (sl === 0 || sl > SubjectError.MAX_LENGTH || pl === 0) return false
  let pi = 0
  let si = 0
  while (true) {
    // both indices at the start of a token
    const pc = p.charCodeAt(pi)
    if (pc === GT && pi + 1 === pl) {
      return validTail(s, si, sl)
    }
    if (pc === STAR && (pi + 1 === pl || p.charCodeAt(pi + 1) === DOT)) {
      const start = si
      while (si < sl) {
        const c = s.charCodeAt(si)
        if (c === DOT) break
        if (!isTokenChar(c)) return false
        si++
      }
      if (si === start) return false
      pi++
    } else {
      while (pi < pl) {
        const c = p.charCodeAt(pi)
        if (c === DOT) break
        if (si >= sl || s.charCodeAt(si) !== c) return false
        pi++
        si++
      }
      if (si < sl && s.charCodeAt(si) !== DOT) return false
    }
    if (pi >= pl) return si >= sl
    if (si >= sl) return false
    // both at a dot
    pi++
    si++
    if (si >= sl) return false
  }
}

/**
 * Do two (valid) patterns, given as tokens, match at least one common subject?
 *
 * @internal
 */
export const overlapsTokens = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => {
  const al = a.length
  const bl = b.length
  const n = al < bl ? al : bl
  for (let i = 0; i < n; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x === ">" || y === ">") return true
    if (x !== y && x !== "*" && y !== "*") return false
  }
  return al === bl
}

/**
 * Does (valid) pattern `a` match every subject (valid) pattern `b` matches?
 *
 * @internal
 */
export const containsTokens = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => {
  const al = a.length
  const bl = b.length
  for (let i = 0; i < al; i++) {
    const x = a[i]!
    if (x === ">") return i < bl
    if (i >= bl) return false
    const y = b[i]!
    if (y === ">") return false
    if (x !== "*" && x !== y) return false
  }
  return al === bl
}

/**
 * `U+0007` for 7.
 *
 * @internal
 */
export const codePoint = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, "0")}`

/**
 * Checks a single token value: non-empty, no `.`, whitespace or wildcard.
 * Returns a problem description or `undefined`.
 *
 * @internal
 */
export const tokenProblem = (value: string): string | undefined => {
  const len = value.length
  if (len === 0) return "is empty"
  for (let i = 0; i < len; i++) {
    const c = value.charCodeAt(i)
    if (c === DOT) return `contains "." at position ${i}`
    if (c === STAR || c === GT) return `contains the wildcard ${JSON.stringify(value.charAt(i))} at position ${i}`
    if (isWhitespace(c)) return `contains whitespace at position ${i}`
    if (c < 32) return `contains the control character ${codePoint(c)} at position ${i}`
  }
  return undefined
}

/**
 * Builds the `InvalidToken` error for a value substituted into a subject.
 *
 * @internal
 */
export const invalidParameter = (
  label: string,
  input: string,
  name: string,
  value: string,
  problem: string
): SubjectError.SubjectError =>
  SubjectError.fromReason(
    new SubjectError.InvalidToken({
      input,
      value,
      message: `${label} ${quote(input)}: parameter ${quote(name)} value ${quote(value)} ${problem}`
    })
  )

