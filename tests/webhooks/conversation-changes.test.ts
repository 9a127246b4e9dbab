import { describe, expect, it } from 'vitest'
import {
  assigneeChange,
  CONVERSATION_ID,
  conversationClosed,
  conversationReopened,
  labelChange,
  NESTED_LABEL_ID,
  ORGANIZATION,
  PARENT_LABEL_ID,
  TEAM,
  teamChange,
  USER_IDS,
} from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// Upstream's conversation-change, label-change, team-change and utils tests (upstream-functions.md
// §7.12, §7.14–§7.16), replayed as signed deliveries.

const { db, userAction } = useWebhookHarness()

const FLAGS_OF_USER_3 = {
  unassigned: false,
  closed: false,
  archived: false,
  trashed: false,
  junked: false,
  assigned: true,
  flagged: false,
  snoozed: false,
}

describe('conversation closed / reopened (§7.12)', () => {
  it('closed: stores the conversation, its history, organization, users and team', async () => {
    for (const table of ['conversations', 'organizations', 'conversations_users', 'users', 'teams']) {
      expect(await db.sql.unsafe(`SELECT 1 FROM public.${table}`)).toHaveLength(0)
    }

    expect(await userAction(conversationClosed())).toEqual({ status: 200, body: {} })

    const conversations = await db.sql`SELECT * FROM public.conversations`
    expect(conversations).toHaveLength(1)
    expect(conversations[0]).toMatchObject({
      id: CONVERSATION_ID,
      subject: 'kytest',
      messages_count: 0,
      drafts_count: 0,
      send_later_messages_count: 0,
      attachments_count: 0,
      tasks_count: 3,
      completed_tasks_count: 1,
      assignee_names: 'User 3',
      assignee_emails: 'user3@mail.com',
      shared_label_names: 'Parent Test, Nested test',
      web_url: `https://mail.missiveapp.com/#inbox/conversations/${CONVERSATION_ID}`,
      app_url: `missive://mail.missiveapp.com/#inbox/conversations/${CONVERSATION_ID}`,
      organization_id: ORGANIZATION.id,
      team_id: TEAM.id,
      closed: true,
    })
    expect((conversations[0]!.created_at as Date).getTime()).toBe(1704181890 * 1000)

    const history = await db.sql`SELECT conversation_id, change_type, team_id FROM public.conversation_history`
    expect(history).toEqual([{
      conversation_id: CONVERSATION_ID,
      change_type: 'conversation_closed',
      team_id: TEAM.id,
    }])
    expect(await db.sql`SELECT id, name FROM public.organizations`).toEqual([ORGANIZATION])
    expect(await db.sql`SELECT 1 FROM public.conversations_users`).toHaveLength(4)
    expect(await db.sql`SELECT 1 FROM public.users`).toHaveLength(4)
    expect(await db.sql`SELECT id, name, organization_id FROM public.teams`).toEqual([
      { id: TEAM.id, name: TEAM.name, organization_id: TEAM.organization },
    ])
  })

  it('reopened: the conversation is open and the history says so', async () => {
    await userAction(conversationReopened())

    const [conversation] = await db.sql`SELECT closed FROM public.conversations`
    expect(conversation!.closed).toBe(false)
    expect(await db.sql`SELECT conversation_id, change_type, team_id FROM public.conversation_history`).toEqual([
      { conversation_id: CONVERSATION_ID, change_type: 'conversation_reopened', team_id: TEAM.id },
    ])
  })

  it('upsert: a later event updates the counts of the one conversation', async () => {
    await userAction(conversationReopened())
    const later = conversationReopened()
    later.conversation.messages_count = 999999
    later.conversation.drafts_count = 999999
    await userAction(later)

    const conversations = await db.sql`SELECT messages_count, drafts_count FROM public.conversations`
    expect(conversations).toEqual([{ messages_count: 999999, drafts_count: 999999 }])
  })

  it('closed, reopened and closed again (the first body once more) ends closed, with three history rows', async () => {
    await userAction(conversationClosed())
    await userAction(conversationReopened())
    await userAction(conversationClosed())

    const [conversation] = await db.sql`SELECT closed FROM public.conversations`
    expect(conversation!.closed).toBe(true)
    const history = await db.sql`SELECT change_type FROM public.conversation_history ORDER BY id`
    expect(history.map((row) => row.change_type)).toEqual([
      'conversation_closed',
      'conversation_reopened',
      'conversation_closed',
    ])
  })
})

describe('conversation assignee change (§7.12)', () => {
  it('replaces the assignees and snapshots them with the history row', async () => {
    await userAction(assigneeChange())

    const history = await db.sql`SELECT id, conversation_id, change_type, team_id FROM public.conversation_history`
    expect(history).toEqual([
      { id: 1, conversation_id: CONVERSATION_ID, change_type: 'conversation_assignee_change', team_id: null },
    ])
    const assignees = await db.sql`
      SELECT conversation_id, user_id, unassigned, closed, archived, trashed, junked, assigned, flagged, snoozed
      FROM public.conversations_assignees`
    expect(assignees).toEqual([{ conversation_id: CONVERSATION_ID, user_id: USER_IDS.user3, ...FLAGS_OF_USER_3 }])
    const snapshot = await db.sql`
      SELECT conversation_history_id, unassigned, closed, archived, trashed, junked, assigned, flagged, snoozed
      FROM public.conversations_assignees_history`
    expect(snapshot).toEqual([{ conversation_history_id: '1', ...FLAGS_OF_USER_3 }])
  })

  it('upserts the labels and links them to the conversation', async () => {
    await userAction(assigneeChange())

    const labels = await db.sql`
      SELECT id, name, name_with_parent_names, color, parent, share_with_organization, visibility
      FROM public.labels ORDER BY name`
    expect(labels).toEqual([
      {
        id: NESTED_LABEL_ID,
        name: 'Nested test',
        name_with_parent_names: 'Parent Test/Nested test',
        color: '#50A8FF',
        parent: PARENT_LABEL_ID,
        share_with_organization: false,
        visibility: 'organization',
      },
      {
        id: PARENT_LABEL_ID,
        name: 'Parent Test',
        name_with_parent_names: 'Parent Test',
        color: '#EE3430',
        parent: null,
        share_with_organization: false,
        visibility: 'organization',
      },
    ])
    const links = await db.sql`SELECT label_id, is_archived FROM public.conversations_labels ORDER BY label_id`
    expect(links).toEqual([
      { label_id: PARENT_LABEL_ID, is_archived: false },
      { label_id: NESTED_LABEL_ID, is_archived: false },
    ])
  })

  it('archives the link of a label that was removed', async () => {
    await userAction(assigneeChange())
    const withOneLabel = assigneeChange()
    withOneLabel.conversation.shared_labels = [withOneLabel.conversation.shared_labels[0]!]
    withOneLabel.conversation.shared_label_names = 'Parent Test'
    await userAction(withOneLabel)

    const links = await db.sql`SELECT label_id, is_archived FROM public.conversations_labels ORDER BY label_id`
    expect(links).toEqual([
      { label_id: PARENT_LABEL_ID, is_archived: false },
      { label_id: NESTED_LABEL_ID, is_archived: true },
    ])
  })

  it('archives every link when all labels are removed', async () => {
    await userAction(assigneeChange())
    const withoutLabels = assigneeChange()
    withoutLabels.conversation.shared_labels = []
    ;(withoutLabels.conversation as Record<string, unknown>).shared_label_names = null
    await userAction(withoutLabels)

    const links = await db.sql`SELECT is_archived FROM public.conversations_labels`
    expect(links).toEqual([{ is_archived: true }, { is_archived: true }])
  })

  it('un-archives a label that is added again (upstream kept it archived, §8.4 #23)', async () => {
    await userAction(assigneeChange())
    const removed = assigneeChange()
    removed.conversation.shared_labels = [removed.conversation.shared_labels[0]!]
    await userAction(removed)
    // The same bytes as the first event: a real event repeating an older state is processed.
    await userAction(assigneeChange())

    const links = await db.sql`SELECT label_id, is_archived FROM public.conversations_labels ORDER BY label_id`
    expect(links).toEqual([
      { label_id: PARENT_LABEL_ID, is_archived: false },
      { label_id: NESTED_LABEL_ID, is_archived: false },
    ])
  })

  it('clears the assignees when the new list is empty (upstream left them, §8.4 #25)', async () => {
    await userAction(assigneeChange())
    const unassigned = assigneeChange()
    unassigned.conversation.assignees = []
    unassigned.conversation.assignee_names = ''
    await userAction(unassigned)

    expect(await db.sql`SELECT 1 FROM public.conversations_assignees`).toHaveLength(0)
    expect(await db.sql`SELECT change_type FROM public.conversation_history`).toHaveLength(2)
    // The second snapshot is empty: no assignees at that point.
    expect(await db.sql`SELECT conversation_history_id FROM public.conversations_assignees_history`).toEqual([
      { conversation_history_id: '1' },
    ])
  })

  it('a conversation first seen through another event gets its assignees seeded', async () => {
    await userAction(conversationClosed())

    const assignees = await db.sql`SELECT user_id FROM public.conversations_assignees`
    expect(assignees).toEqual([{ user_id: USER_IDS.user3 }])
  })
})

describe('label change (§7.14)', () => {
  it('new: stores the label', async () => {
    expect(await db.sql`SELECT 1 FROM public.labels`).toHaveLength(0)

    await userAction(labelChange())

    const labels = await db.sql`
      SELECT name, name_with_parent_names, color, parent, share_with_organization, visibility FROM public.labels`
    expect(labels).toEqual([
      {
        name: 'Nested test',
        name_with_parent_names: 'Parent Test/Nested test',
        color: '#50A8FF',
        parent: PARENT_LABEL_ID,
        share_with_organization: false,
        visibility: 'organization',
      },
    ])
    expect(await db.sql`SELECT label_id, is_archived FROM public.conversations_labels`).toEqual([
      { label_id: NESTED_LABEL_ID, is_archived: false },
    ])
  })

  it('upsert: a renamed label keeps one row with the new name', async () => {
    await userAction(labelChange())
    const renamed = labelChange()
    renamed.conversation.shared_labels[0]!.name = 'new name'
    await userAction(renamed)

    const labels = await db.sql`
      SELECT name, name_with_parent_names, color, parent, share_with_organization, visibility FROM public.labels`
    expect(labels).toEqual([
      {
        name: 'new name',
        name_with_parent_names: 'Parent Test/Nested test',
        color: '#50A8FF',
        parent: PARENT_LABEL_ID,
        share_with_organization: false,
        visibility: 'organization',
      },
    ])
  })
})

describe('team change (§7.15)', () => {
  it('change: stores the team and moves the conversation to it', async () => {
    expect(await db.sql`SELECT 1 FROM public.teams`).toHaveLength(0)

    await userAction(teamChange())

    expect(await db.sql`SELECT id, name, organization_id FROM public.teams`).toEqual([
      { id: TEAM.id, name: TEAM.name, organization_id: TEAM.organization },
    ])
    expect(await db.sql`SELECT team_id FROM public.conversations`).toEqual([{ team_id: TEAM.id }])
    expect(await db.sql`SELECT change_type, team_id FROM public.conversation_history`).toEqual([
      { change_type: 'team_change', team_id: TEAM.id },
    ])
  })

  it('upsert: a renamed team keeps one row with the new name and its organization', async () => {
    await userAction(teamChange())
    const renamed = teamChange()
    renamed.conversation.team.name = 'new name'
    await userAction(renamed)

    expect(await db.sql`SELECT id, name, organization_id FROM public.teams`).toEqual([
      { id: TEAM.id, name: 'new name', organization_id: TEAM.organization },
    ])
  })
})

describe('rules (§7.16 ensureRuleExists)', () => {
  it('inserts the rule when it does not exist', async () => {
    expect(await db.sql`SELECT 1 FROM public.rules`).toHaveLength(0)

    await userAction(teamChange())

    expect(await db.sql`SELECT id, description, type FROM public.rules`).toEqual([
      { id: '1cc84fa1-cd52-4112-8548-0fb6c1c18f7d', description: 'Team change', type: 'team_change' },
    ])
  })

  it('three concurrent deliveries with the same rule leave one rule, and all succeed', async () => {
    const results = await Promise.all([userAction(teamChange()), userAction(teamChange()), userAction(teamChange())])

    expect(results.map((result) => result.status)).toEqual([200, 200, 200])
    expect(await db.sql`SELECT id FROM public.rules`).toEqual([{ id: '1cc84fa1-cd52-4112-8548-0fb6c1c18f7d' }])
    // The three are one delivery (same bytes): it is processed once.
    expect(await db.sql`SELECT 1 FROM public.conversation_history`).toHaveLength(1)
    expect(await db.sql`SELECT 1 FROM public.invoke_history`).toHaveLength(3)
  })

  it('does not update the rule description on later calls', async () => {
    await userAction(teamChange())
    const described = teamChange()
    described.rule.description = 'Updated description'
    await userAction(described)

    expect(await db.sql`SELECT description FROM public.rules`).toEqual([{ description: 'Team change' }])
  })
})
