import { Hono } from 'hono'

/** Placeholder routes for a function whose issue has not landed yet: an honest 501. */
export function notImplementedRoutes(name: string): Hono {
  const app = new Hono({ strict: false })
  app.all('*', (c) => c.json({ message: `${name} is not implemented yet` }, 501))
  return app
}
