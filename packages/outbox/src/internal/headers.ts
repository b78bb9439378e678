/**
 * The stored form of wire headers: one `name:value` per line.
 *
 * Header names are tokens (no `:`, no line breaks) and values carry no CR or
 * LF (NATS cannot carry them; `Outbox.publish` refuses them), so the form is
 * unambiguous, readable in a SQL console, and parsed without a JSON parser
 * on the relay's hot path.
 *
 * @since 0.1.0
 * @internal
 */

/** Whether a header value can be stored (and sent): no CR, no LF. */
export const isStorable = (value: string): boolean => !value.includes("\n") && !value.includes("\r")

export const encode = (headers: Readonly<Record<string, string>>): string => {
  let text = ""
  for (const name in headers) {
    text += text === "" ? `${name}:${headers[name]!}` : `\n${name}:${headers[name]!}`
  }
  return text
}

/** Decodes the stored form; a malformed text gives `{}` (the relay then parks the message). */
export const decode = (text: string): Record<string, string> => {
  const headers: Record<string, string> = {}
  let start = 0
  while (start < text.length) {
    let end = text.indexOf("\n", start)
    if (end === -1) end = text.length
    const colon = text.indexOf(":", start)
    if (colon <= start || colon > end) return {}
    headers[text.slice(start, colon)] = text.slice(colon + 1, end)
    start = end + 1
  }
  return headers
}
