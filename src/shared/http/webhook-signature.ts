import type { MiddlewareHandler } from 'hono'
import { bufferBody, DEFAULT_BODY_LIMIT } from './body-cap.ts'

// Missive signs each webhook with `X-Hook-Signature: sha256=<hex HMAC-SHA256(raw body)>`. Upstream
// hashed JSON.stringify(parsed body), which rejects genuine payloads whenever serialisation differs;
// we verify the raw bytes first (standard-webhooks style) and only then parse (STYLE.md #5).

const encoder = new TextEncoder()

// Importing the key costs about a millisecond; every webhook uses the same secret.
const keys = new Map<string, Promise<CryptoKey>>()

function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  const cacheKey = `${usage}:${secret}`
  let key = keys.get(cacheKey)
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage])
    keys.set(cacheKey, key)
  }
  return key
}

function hexToBytes(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return null
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return bytes
}

/** `sha256=<hex>` for a body, as Missive sends it; tests sign their payloads with this. */
export async function signWebhookBody(secret: string, body: string | Uint8Array): Promise<string> {
  const bytes = typeof body === 'string' ? encoder.encode(body) : body
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await hmacKey(secret, 'sign'), bytes as BufferSource))
  return `sha256=${[...mac].map((b) => b.toString(16).padStart(2, '0')).join('')}`
}

/** Constant-time check (WebCrypto verify) of a `sha256=<hex>` or bare-hex signature over the raw bytes. */
export async function verifyWebhookSignature(
  secret: string,
  body: Uint8Array,
  header: string | undefined,
): Promise<boolean> {
  if (!header) return false
  const signature = hexToBytes(header.trim().replace(/^sha256=/i, ''))
  if (!signature || signature.length !== 32) return false
  return crypto.subtle.verify('HMAC', await hmacKey(secret, 'verify'), signature as BufferSource, body as BufferSource)
}

export type WebhookVariables = { rawBody: string }

/**
 * Rejects unsigned or wrongly signed webhooks with 401 before anything is parsed or written. The
 * header is looked for before a byte of the body is read, and the body is read under the 1 MB cap
 * (413 beyond), so an unsigned or oversized stream costs no memory.
 */
export function webhookSignatureGate(secret: string): MiddlewareHandler<{ Variables: WebhookVariables }> {
  return async (c, next) => {
    const header = c.req.header('x-hook-signature')
    if (!header) return c.json({ message: 'Missing signature header' }, 401)
    if (!/^\s*(sha256=)?[0-9a-fA-F]{64}\s*$/i.test(header)) return c.json({ message: 'Invalid signature' }, 401)
    const body = await bufferBody(c, DEFAULT_BODY_LIMIT)
    if (!(await verifyWebhookSignature(secret, body, header))) return c.json({ message: 'Invalid signature' }, 401)
    c.set('rawBody', new TextDecoder().decode(body))
    await next()
  }
}
