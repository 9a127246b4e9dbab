import type { LogFields, Logger } from '../log/logger.ts'
import { attachedContext, reportContext } from './report-context.ts'
import type { ErrorReporter } from './sentry-reporter.ts'

/**
 * A logger that also reports every error-level line: the one place every failure already passes
 * (handlers' unhandled errors, failed drains, reconciles and failure jobs, Missive outages), so
 * nothing logged as an error goes unseen. Only the scope goes into the report (reportContext).
 */
export function reportingLogger(base: Logger, reporter: ErrorReporter, scope: LogFields = {}): Logger {
  return {
    debug: (message, fields) => base.debug(message, fields),
    info: (message, fields) => base.info(message, fields),
    warn: (message, fields) => base.warn(message, fields),
    error: (message, fields = {}) => {
      base.error(message, fields)
      const error = fields.error instanceof Error ? fields.error : undefined
      reporter.capture(error, message, reportContext({ ...scope, ...attachedContext(fields.error), ...fields }))
    },
    child: (fields) => reportingLogger(base.child(fields), reporter, { ...scope, ...fields }),
  }
}
