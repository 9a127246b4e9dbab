// Which links in a message get shortened (upstream-functions.md §3.3): only https links, without
// trailing punctuation, not already on a shortener domain, parseable, each once.

const SHORTENER_HOSTS = new Set(['bit.ly', 'dub.sh', 'tinyurl.com', 'goo.gl', 't.co', 'ow.ly', 'go.outliermedia.org'])

export function detectLinksToShorten(message: string): string[] {
  if (!message) return []
  const candidates = (message.match(/https:\/\/\S+/g) ?? []).map((url) => url.replace(/[.,;:!?)]+$/, ''))
  const links = candidates.filter((url) => {
    try {
      return !SHORTENER_HOSTS.has(new URL(url).hostname.toLowerCase())
    } catch {
      return false
    }
  })
  return [...new Set(links)]
}

/** Replaces every occurrence of each link, longest first so a link that prefixes another stays intact. */
export function replaceLinks(message: string, shortLinks: Map<string, string>): string {
  let text = message
  for (const url of [...shortLinks.keys()].sort((a, b) => b.length - a.length)) {
    text = text.split(url).join(shortLinks.get(url)!)
  }
  return text
}
