import { afterAll, beforeAll, beforeEach } from 'vitest'
import { listen, type Listening } from '../../src/local/fakes/fake-server.ts'

/** A loopback stand-in for the lookup service: records refresh calls, answers 200, 500 or never. */
export interface LookupRecorder {
  url: string
  requests: Array<{ path: string; query: string; authorization: string | null }>
  mode: 'ok' | 'error' | 'hang'
}

export function useLookupRecorder(): LookupRecorder {
  let server: Listening | undefined
  const pending = new Set<() => void>()
  const recorder: LookupRecorder = { url: '', requests: [], mode: 'ok' }
  beforeAll(async () => {
    server = await listen(
      async (request) => {
        const url = new URL(request.url)
        recorder.requests.push({
          path: url.pathname,
          query: url.search,
          authorization: request.headers.get('authorization'),
        })
        if (recorder.mode === 'hang') await new Promise<void>((resolve) => pending.add(resolve))
        if (recorder.mode === 'error') return new Response('boom', { status: 500 })
        return Response.json({ ok: true })
      },
      0,
      () => {
        for (const release of pending) release()
      },
    )
    recorder.url = server.url
  })
  beforeEach(() => {
    recorder.requests.splice(0)
    recorder.mode = 'ok'
  })
  afterAll(async () => {
    await server?.close()
  })
  return recorder
}
