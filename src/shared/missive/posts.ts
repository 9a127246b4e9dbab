import { type MissiveContext, missiveRequest } from './request.ts'
import type { CreatePostInput, CreatePostResult } from './types.ts'

/** A system note in a conversation; with a label it also labels and closes it (archive, failures). */
export async function createPost(context: MissiveContext, input: CreatePostInput): Promise<CreatePostResult> {
  const posts: Record<string, unknown> = {
    username: 'TXT Outlier',
    notification: { title: 'System', body: 'Admins action' },
    text: input.text,
    conversation: input.conversationId,
  }
  if (input.labelId) {
    posts.add_shared_labels = [input.labelId]
    posts.close = true
    posts.reopen = false
    posts.organization = context.organizationId
  }

  const response = await missiveRequest(context.transport, {
    method: 'POST',
    path: '/posts',
    token: context.tokens.nonBroadcast,
    purpose: 'non-broadcast',
    body: { posts },
  })
  if (!response.ok) return response
  // "Successful POST requests may return 201 with no body": the status alone means success.
  const post = readObject(readObject(response.body)?.posts)
  return {
    ok: true,
    status: response.status,
    postId: typeof post?.id === 'string' ? post.id : null,
    conversationId: typeof post?.conversation === 'string' ? post.conversation : null,
  }
}

function readObject(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}
