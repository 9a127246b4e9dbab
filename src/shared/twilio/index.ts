export { createTwilioClient, TwilioRequestError } from './client.ts'
export type {
  ListMessagesPageInput,
  MessagesPage,
  StatusCallbackInput,
  TwilioClient,
  TwilioClientOptions,
  TwilioMessage,
} from './client.ts'
