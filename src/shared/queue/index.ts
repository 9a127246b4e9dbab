export * from './message.ts'
export * from './names.ts'
export * from './pgmq.ts'
