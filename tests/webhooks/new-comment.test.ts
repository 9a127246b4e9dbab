import { describe, expect, it } from 'vitest'
import {
  COMMENT_ID,
  CONVERSATION_ID,
  conversationClosed,
  newComment,
  TEAM,
  USER_IDS,
} from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// Upstream's new-comment tests (upstream-functions.md §7.13), replayed as signed deliveries.

const { db, userAction } = useWebhookHarness()

describe('new comment (§7.13)', () => {
  it('without mentions or attachment: stores the comment and its author', async () => {
    expect(await db.sql`SELECT 1 FROM public.comments`).toHaveLength(0)
    const event = newComment()
    event.conversation.users = []

    expect(await userAction(event)).toEqual({ status: 200, body: {} })

    const comments = await db.sql`SELECT * FROM public.comments`
    expect(comments).toHaveLength(1)
    expect(comments[0]).toMatchObject({
      id: COMMENT_ID,
      body: 'helu',
      user_id: USER_IDS.user3,
      conversation_id: CONVERSATION_ID,
      attachment: null,
      task_completed_at: null,
      is_task: false,
    })
    expect((comments[0]!.created_at as Date).getTime()).toBe(1704339993 * 1000)
    expect(await db.sql`SELECT id, email, name, avatar_url FROM public.users`).toEqual([
      {
        id: USER_IDS.user3,
        email: 'user3@mail.com',
        name: 'User 3',
        avatar_url: 'https://files.missiveusercontent.com/12345',
      },
    ])
  })

  it('with a mention: records it', async () => {
    const event = newComment()
    event.comment.mentions = [{ user_id: USER_IDS.user2, offset: 0, length: 3 }]

    await userAction(event)

    expect(await db.sql`SELECT comment_id, user_id, team_id FROM public.comments_mentions`).toEqual([
      { comment_id: COMMENT_ID, user_id: USER_IDS.user2, team_id: null },
    ])
  })

  it("a mention keeps the mentioned user's name and email (upstream wiped them, §8.4 #24)", async () => {
    const first = newComment()
    await userAction(first) // stores User 1–4 with names and emails
    const mentioning = newComment()
    mentioning.comment.id = 'deadfeed-dead-feed-dead-deadfeed0004'
    mentioning.conversation.users = []
    mentioning.comment.mentions = [{ user_id: USER_IDS.user2, offset: 0, length: 6 }]

    await userAction(mentioning)

    expect(await db.sql`SELECT name, email FROM public.users WHERE id = ${USER_IDS.user2}`).toEqual([
      { name: 'User 2', email: 'user2@mail.com' },
    ])
    // No history row claims the user was renamed to ''.
    expect(await db.sql`SELECT name FROM public.user_history WHERE user_id = ${USER_IDS.user2}`).toEqual([{
      name: 'User 2',
    }])
  })

  it('a mention of a user and a team never seen before stores their ids', async () => {
    const event = newComment()
    const unknownUser = '0b0e4f5a-1c2d-4e3f-8a9b-0c1d2e3f4a5b'
    const team = '6f1e2d3c-4b5a-4968-8776-655443322110'
    event.comment.mentions = [
      { user_id: unknownUser, offset: 0, length: 3 },
      { team_id: team, offset: 4, length: 5 },
    ]

    expect((await userAction(event)).status).toBe(200)

    expect(await db.sql`SELECT name, email FROM public.users WHERE id = ${unknownUser}`).toEqual([{
      name: null,
      email: null,
    }])
    expect(await db.sql`SELECT name, organization_id FROM public.teams WHERE id = ${team}`).toEqual([
      { name: '', organization_id: TEAM.organization },
    ])
    const mentions = await db.sql`SELECT user_id, team_id FROM public.comments_mentions ORDER BY id`
    expect(mentions).toEqual([
      { user_id: unknownUser, team_id: null },
      { user_id: null, team_id: team },
    ])
  })

  it('with an attachment: stores it verbatim', async () => {
    const event = newComment()
    const attachment = JSON.stringify({
      id: '3254f90c-ef40-4b26-9d48-363187f7c9f1',
      filename: 'README.md',
      extension: 'md',
      url: 'https://attachments-1.missiveapp.com/3254f90c-ef40-4b26-9d48-363187f7c9f1/README.md?Expires=17043562',
      media_type: 'text',
      sub_type: 'plain',
      size: 946,
      width: null,
      height: null,
    })
    event.comment.attachment = attachment

    await userAction(event)

    expect(await db.sql`SELECT attachment FROM public.comments`).toEqual([{ attachment }])
  })

  it('an attachment sent as an object is stored as that object', async () => {
    const event = newComment()
    event.comment.attachment = { id: 'a', filename: 'photo.jpg', size: 12 }

    await userAction(event)

    expect(await db.sql`SELECT attachment FROM public.comments`).toEqual([{
      attachment: { id: 'a', filename: 'photo.jpg', size: 12 },
    }])
  })

  describe('with a task', () => {
    it('not yet completed and no assignee', async () => {
      const event = newComment()
      event.comment.task = { completed_at: null, assignees: [] }

      await userAction(event)

      expect(await db.sql`SELECT task_completed_at, is_task FROM public.comments`).toEqual([{
        task_completed_at: null,
        is_task: true,
      }])
    })

    it('not yet completed and with an assignee', async () => {
      const event = newComment()
      event.comment.task = {
        completed_at: null,
        assignees: [{
          id: USER_IDS.user3,
          email: 'user3@stanyangroup.com',
          name: 'User 3',
          avatar_url:
            'https://files.missiveusercontent.com/60167285-11e8-4358-a118-9db23f2ccd20/ACg8ocKpwpfvO16DSZzCdWtnFM',
        }],
      }

      await userAction(event)

      expect(await db.sql`SELECT comment_id, user_id FROM public.tasks_assignees`).toEqual([
        { comment_id: COMMENT_ID, user_id: USER_IDS.user3 },
      ])
    })

    it('completed and no assignee', async () => {
      const event = newComment()
      event.comment.task = { completed_at: 1704357228, assignees: [] }

      await userAction(event)

      const [comment] = await db.sql`SELECT task_completed_at, is_task FROM public.comments`
      expect((comment!.task_completed_at as Date).getTime()).toBe(1704357228 * 1000)
      expect(comment!.is_task).toBe(true)
    })
  })

  it("a later comment updates its author's name and email", async () => {
    const first = newComment()
    first.conversation.users = []
    await userAction(first)
    expect(await db.sql`SELECT name, email FROM public.users`).toEqual([{ name: 'User 3', email: 'user3@mail.com' }])

    const second = newComment()
    second.comment.id = 'deadfeed-dead-feed-dead-deadfeed0003'
    second.comment.author.name = 'User 3 Updated'
    second.comment.author.email = 'user3updated@mail.com'
    second.conversation.users = []
    await userAction(second)

    expect(await db.sql`SELECT name, email FROM public.users`).toEqual([{
      name: 'User 3 Updated',
      email: 'user3updated@mail.com',
    }])
    expect(await db.sql`SELECT name FROM public.user_history ORDER BY id`).toEqual([{ name: 'User 3' }, {
      name: 'User 3 Updated',
    }])
  })

  it('a missing organization is handled: the comment is stored (upstream failed it, §7.13 #9)', async () => {
    // Upstream answered 200 but stored nothing (a TypeError on conversation.organization.id). The
    // organization is optional: the comment and its conversation are stored without one.
    const event = newComment()
    event.comment.id = 'deadfeed-dead-feed-dead-deadfeed0002'
    event.conversation.users = []
    delete (event.conversation as { organization?: unknown }).organization

    expect(await userAction(event)).toEqual({ status: 200, body: {} })

    expect(await db.sql`SELECT id FROM public.comments`).toEqual([{ id: 'deadfeed-dead-feed-dead-deadfeed0002' }])
    expect(await db.sql`SELECT organization_id FROM public.conversations`).toEqual([{ organization_id: null }])
    expect(await db.sql`SELECT 1 FROM public.errors`).toHaveLength(0)
  })

  it('a minimal comment (ids and author only) is stored with defaults', async () => {
    const minimal = {
      rule: { id: newComment().rule.id, type: 'new_comment' },
      conversation: { id: CONVERSATION_ID },
      comment: { id: COMMENT_ID, author: { id: USER_IDS.user3 } },
    }

    expect(await userAction(minimal)).toEqual({ status: 200, body: {} })

    const [comment] = await db.sql`SELECT body, attachment, is_task, user_id, created_at FROM public.comments`
    expect(comment).toMatchObject({ body: null, attachment: null, is_task: false, user_id: USER_IDS.user3 })
    expect(Math.abs((comment!.created_at as Date).getTime() - Date.now())).toBeLessThan(60_000)
    expect(await db.sql`SELECT name, email FROM public.users`).toEqual([{ name: null, email: null }])
  })

  it('concurrent comment and conversation webhooks both succeed (no deadlock)', async () => {
    const comment = newComment()
    comment.comment.id = 'deadfeed-dead-feed-dead-deadfeed0001'
    comment.conversation.users = []

    const results = await Promise.all([userAction(comment), userAction(conversationClosed())])

    expect(results).toEqual([{ status: 200, body: {} }, { status: 200, body: {} }])
    expect(await db.sql`SELECT id FROM public.comments`).toEqual([{ id: 'deadfeed-dead-feed-dead-deadfeed0001' }])
    expect(await db.sql`SELECT closed FROM public.conversations`).toEqual([{ closed: true }])
  })

  it('many concurrent comments and status changes on shared users all succeed', async () => {
    const deliveries = []
    for (let i = 0; i < 12; i++) {
      const comment = newComment()
      comment.comment.id = `deadfeed-dead-feed-dead-${String(i).padStart(12, '0')}`
      deliveries.push(userAction(comment))
      const closed = conversationClosed()
      closed.conversation.messages_count = i
      deliveries.push(userAction(closed))
    }

    const results = await Promise.all(deliveries)

    expect(results.every((result) => result.status === 200)).toBe(true)
    expect(await db.sql`SELECT 1 FROM public.comments`).toHaveLength(12)
  })

  it('a redelivered comment changes nothing', async () => {
    const event = newComment()
    event.comment.mentions = [{ user_id: USER_IDS.user2, offset: 0, length: 3 }]
    event.comment.task = {
      completed_at: null,
      assignees: [{ id: USER_IDS.user1, name: 'User 1', email: 'user1@mail.com', avatar_url: null }],
    }
    await userAction(event)
    // A redelivery whose conversation counters moved on in between (different bytes).
    event.conversation.messages_count = 1

    expect(await userAction(event)).toEqual({ status: 200, body: {} })

    expect(await db.sql`SELECT 1 FROM public.comments`).toHaveLength(1)
    expect(await db.sql`SELECT 1 FROM public.comments_mentions`).toHaveLength(1)
    expect(await db.sql`SELECT 1 FROM public.tasks_assignees`).toHaveLength(1)
    expect(await db.sql`SELECT 1 FROM public.errors`).toHaveLength(0)
  })
})
