import type { Sql } from '../../shared/db/client.ts'

// `npm run seed:history`: years of a weekly-texting newsroom in one database, for looking at the
// sidebar with real volume and for the history benches (issue 15). Everything is bulk SQL
// (generate_series, INSERT … SELECT), one statement per table, so the default history loads in
// minutes. Rows are consistent with what the code reads:
//   * sent broadcasts are weekly, run_at in the past, not editable, each with its two segments
//     (ratio 80 / 20); one editable upcoming broadcast is kept or created;
//   * campaigns are label, CSV or personalized (no segments, no file), past ones `sent` and
//     processed; a few upcoming ones `scheduled`;
//   * every message_statuses row has its message_sends ledger row (`sent`, same missive id,
//     message_status_id pointing at it); recipients are subscribed, not-excluded authors, each
//     at most once per (broadcast or campaign, phase) as the ledger's unique key requires;
//   * twilio_messages mirror part of the sends (outgoing) and hold replies (incoming, with
//     reply_to_broadcast / reply_to_campaign); an unsubscribed author's reply is a STOP with its
//     unsubscribed_messages row;
//   * every author has a conversation (conversations_authors), some labelled, some commented.
// No trigger is bypassed: the only insert trigger that acts (campaign_personalized_recipients,
// which starts a send) is on a table a processed personalized campaign no longer has rows in, so
// historic personalized campaigns are written as campaigns + statuses + ledger, which is what such
// a campaign leaves behind. Foreign keys are checked as usual.
//
// Below ~2 % scale a broadcast would need more recipients than there are eligible authors: each
// owner then reaches every eligible author once (so fewer statuses than scale × 2 000 000).

export interface HistoryOptions {
  /** 1 = the defaults below; 0.01 = 1 % of every count. */
  scale: number
  /** When the history ends (the last broadcast ran the week before); tests pin it. */
  now?: Date
}

export const HISTORY_DEFAULTS = {
  authors: 200_000,
  broadcasts: 260,
  campaigns: 400,
  statuses: 2_000_000,
  twilioMessages: 1_000_000,
  labels: 40,
  users: 12,
}

export interface HistorySummary {
  authors: number
  broadcasts: number
  campaigns: number
  statuses: number
  sends: number
  twilioMessages: number
  conversations: number
  conversationLabels: number
  comments: number
  unsubscribedMessages: number
}

/** The newsroom's own number: outgoing twilio_messages are from it (from_field references authors). */
export const NEWSROOM_PHONE = '+13135550000'

const scaled = (value: number, scale: number, minimum: number) => Math.max(minimum, Math.round(value * scale))

export async function seedHistory(sql: Sql, options: HistoryOptions): Promise<HistorySummary> {
  const { scale } = options
  if (!(scale > 0 && scale <= 10)) throw new Error(`--scale must be in (0, 10], got ${scale}`)
  const now = options.now ?? new Date()
  const authors = scaled(HISTORY_DEFAULTS.authors, scale, 100)
  const broadcasts = scaled(HISTORY_DEFAULTS.broadcasts, scale, 2)
  const campaigns = scaled(HISTORY_DEFAULTS.campaigns, scale, 6)
  const statuses = scaled(HISTORY_DEFAULTS.statuses, scale, 200)
  const twilioMessages = scaled(HISTORY_DEFAULTS.twilioMessages, scale, 100)
  const labels = Math.min(HISTORY_DEFAULTS.labels, scaled(HISTORY_DEFAULTS.labels, scale, 4))
  const users = HISTORY_DEFAULTS.users

  return await sql.begin(async (tx) => {
    // One transaction: a failed seed leaves nothing half-written. Temp tables drop on commit.
    await tx`SET LOCAL synchronous_commit = off`
    await tx`SELECT setseed(0.15)`

    // Authors: 3 % unsubscribed (2.5 % here, 0.5 % by a STOP reply below), 1 % excluded, joined over
    // five years. A run on a database that already has history adds to it: numbers continue after
    // the highest seeded one (+1 313 2xx xxxx, so at most a million seeded authors in all).
    const [{ base }] = await tx`
      SELECT coalesce(max(substr(phone_number, 6)::bigint) - 2000000, 0)::bigint AS base
      FROM public.authors WHERE phone_number ~ '^\\+13132[0-9]{6}$'`
    await tx`
      INSERT INTO public.authors (phone_number, name, unsubscribed, exclude, created_at, zipcode)
      SELECT '+1313' || (2000000 + ${base}::bigint + g), 'Reader ' || (${base}::bigint + g), g % 200 < 5, g % 100 = 50,
             ${now}::timestamptz - make_interval(days => 5 * 365) + make_interval(secs => g * (5 * 365 * 86400.0 / ${authors})),
             '482' || lpad((g % 100)::text, 2, '0')
      FROM generate_series(1, ${authors}) AS g`
    await tx`
      INSERT INTO public.authors (phone_number, name, exclude) VALUES (${NEWSROOM_PHONE}, 'Newsroom', true)
      ON CONFLICT (phone_number) DO NOTHING`

    // Missive mirror: users, labels, one conversation per new author.
    await tx`
      INSERT INTO public.users (id, name, email, created_at)
      SELECT gen_random_uuid(), 'Editor ' || g, 'editor' || g || '@example.org', ${now}::timestamptz - interval '5 years'
      FROM generate_series(1, ${users}) AS g`
    await tx`
      CREATE TEMP TABLE hist_users ON COMMIT DROP AS
      SELECT row_number() OVER (ORDER BY id) - 1 AS idx, id FROM public.users`
    await tx`
      INSERT INTO public.labels (name, name_with_parent_names, color, share_with_organization)
      SELECT 'History label ' || g, 'History / History label ' || g, '#' || lpad(to_hex(g * 40000), 6, '0'), true
      FROM generate_series(1, ${labels}) AS g`
    await tx`
      CREATE TEMP TABLE hist_labels ON COMMIT DROP AS
      SELECT row_number() OVER (ORDER BY name, id) - 1 AS idx, id FROM public.labels WHERE name LIKE 'History label %'`
    await tx`
      CREATE TEMP TABLE hist_authors ON COMMIT DROP AS
      SELECT row_number() OVER (ORDER BY a.phone_number) - 1 AS idx, a.phone_number, a.unsubscribed, a.exclude,
             gen_random_uuid() AS conversation_id, a.created_at
      FROM public.authors a
      WHERE a.phone_number >= '+1313' || (2000001 + ${base}::bigint) AND a.phone_number <= '+1313' || (2000000 + ${base}::bigint + ${authors})
        AND length(a.phone_number) = 12`
    await tx`
      INSERT INTO public.conversations (id, created_at, messages_count, subject, web_url, app_url, closed)
      SELECT h.conversation_id, h.created_at, 2, 'SMS with ' || h.phone_number,
             'https://mail.missiveapp.com/#inbox/conversations/' || h.conversation_id,
             'missive://mail.missiveapp.com/#inbox/conversations/' || h.conversation_id, h.idx % 7 = 0
      FROM hist_authors h`
    await tx`
      INSERT INTO public.conversations_authors (conversation_id, author_phone_number, created_at)
      SELECT h.conversation_id, h.phone_number, h.created_at FROM hist_authors h`
    const labelled = await tx`
      INSERT INTO public.conversations_labels (conversation_id, label_id, created_at)
      SELECT h.conversation_id, l.id, h.created_at + interval '1 day'
      FROM hist_authors h JOIN hist_labels l ON l.idx = h.idx % ${labels}
      WHERE h.idx % 4 = 0`
    const commented = await tx`
      INSERT INTO public.comments (conversation_id, user_id, body, created_at)
      SELECT h.conversation_id, u.id, 'Followed up with this reader (' || h.idx || ')', h.created_at + interval '2 days'
      FROM hist_authors h JOIN hist_users u ON u.idx = h.idx % ${users}
      WHERE h.idx % 5 = 1`
    await tx`
      CREATE TEMP TABLE hist_eligible ON COMMIT DROP AS
      SELECT row_number() OVER (ORDER BY h.idx) - 1 AS idx, h.phone_number, h.conversation_id
      FROM hist_authors h WHERE NOT h.unsubscribed AND h.exclude = false`
    await tx`CREATE INDEX ON hist_eligible (idx)`
    const [{ eligible }] = await tx`SELECT count(*)::int AS eligible FROM hist_eligible`

    // Segments as real ones are written; the sandbox trigger checks them on insert.
    await tx`
      INSERT INTO public.audience_segments (name, description, query)
      SELECT v.name, v.description, v.query
      FROM (VALUES
        ('History readers', 'Subscribed readers, in random order',
         'SELECT a.phone_number FROM public.authors a WHERE a.unsubscribed = false AND a.exclude = false AND a.added_via_file_upload IS NOT TRUE ORDER BY random()'),
        ('History inactive', 'Tops up every broadcast: subscribed readers',
         'SELECT a.phone_number FROM public.authors a WHERE a.unsubscribed = false AND a.exclude = false AND a.added_via_file_upload IS NOT TRUE ORDER BY random()')
      ) AS v(name, description, query)
      WHERE NOT EXISTS (SELECT 1 FROM public.audience_segments s WHERE s.name = v.name)`
    const [segments] = await tx`
      SELECT (SELECT min(id) FROM public.audience_segments WHERE name = 'History readers') AS readers,
             (SELECT min(id) FROM public.audience_segments WHERE name = 'History inactive') AS inactive`

    // Owners: broadcasts get 80 % of the statuses (first + second message of each recipient),
    // campaigns 20 % (first message only). Each owner's recipients are a window of the eligible
    // authors starting at a different offset, at most every eligible author once.
    const broadcastRows = Math.min(Math.floor((statuses * 0.8) / broadcasts / 2) * 2, eligible * 2)
    const campaignRows = Math.min(Math.floor((statuses * 0.2) / campaigns), eligible)
    const [{ first_broadcast: firstBroadcast }] = await tx`
      WITH created AS (
        INSERT INTO public.broadcasts (run_at, delay, editable, no_users, first_message, second_message,
                                       original_first_message, original_second_message, created_at)
        SELECT ${now}::timestamptz - make_interval(weeks => ${broadcasts} - g + 1), 600, false, ${broadcastRows / 2},
               'Week ' || g || ': what should Outlier look into in Detroit? Reply to this text. https://outl.ink/w' || g,
               'Thanks for reading week ' || g || '. Reply STOP to stop these texts.',
               'Week ' || g || ': what should Outlier look into in Detroit? Reply to this text. https://outliermedia.org/week/' || g,
               'Thanks for reading week ' || g || '. Reply STOP to stop these texts.',
               ${now}::timestamptz - make_interval(weeks => ${broadcasts} - g + 2)
        FROM generate_series(1, ${broadcasts}) AS g
        ORDER BY g
        RETURNING id
      )
      SELECT min(id) AS first_broadcast FROM created`
    await tx`
      INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio)
      SELECT b.id, s.id, s.ratio
      FROM public.broadcasts b
      CROSS JOIN (VALUES (${segments.readers}::bigint, 80::smallint), (${segments.inactive}::bigint, 20::smallint)) AS s(id, ratio)
      WHERE b.id >= ${firstBroadcast}`
    await tx`
      WITH created AS (
        INSERT INTO public.broadcasts (first_message, second_message, original_first_message, original_second_message,
                                       delay, no_users, editable, run_at)
        SELECT 'What should Outlier look into this week? Reply to this text.', 'Reply STOP to stop these texts.',
               'What should Outlier look into this week? Reply to this text.', 'Reply STOP to stop these texts.',
               600, ${broadcastRows / 2}, true, NULL
        WHERE NOT EXISTS (SELECT 1 FROM public.broadcasts WHERE editable)
        RETURNING id
      )
      INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio)
      SELECT created.id, ${segments.readers}::bigint, 100 FROM created`

    // Campaigns over the same five years: one in three label-based, one CSV, one personalized;
    // 1 in 50 (and the last) is still upcoming.
    const [{ first_campaign: firstCampaign }] = await tx`
      WITH created AS (
        INSERT INTO public.campaigns (title, first_message, second_message, segments, label_ids, recipient_file_url,
                                      run_at, created_at, processed, status, recipient_count, delay)
        SELECT CASE g % 3 WHEN 0 THEN 'Label campaign ' || g WHEN 1 THEN 'CSV campaign ' || g ELSE 'Personalized Campaign' END,
               CASE g % 3 WHEN 2 THEN 'Personalized campaign' ELSE 'Campaign ' || g || ': your ballot questions answered https://outl.ink/c' || g END,
               NULL,
               CASE g % 3 WHEN 0 THEN jsonb_build_object('included', jsonb_build_array(jsonb_build_object('id', l.id::text))) END,
               CASE g % 3 WHEN 0 THEN ARRAY[l.id::text] ELSE '{}' END,
               CASE g % 3 WHEN 1 THEN 'campaign-recipients/history-' || g || '.csv' END,
               CASE WHEN (g % 50 = 0 OR g = ${campaigns}) THEN ${now}::timestamptz + make_interval(days => g % 30 + 1)
                    ELSE ${now}::timestamptz - make_interval(secs => (${campaigns} - g + 1) * (5 * 365 * 86400.0 / ${campaigns})) END,
               ${now}::timestamptz - make_interval(secs => (${campaigns} - g + 2) * (5 * 365 * 86400.0 / ${campaigns})),
               NOT (g % 50 = 0 OR g = ${campaigns}), CASE WHEN (g % 50 = 0 OR g = ${campaigns}) THEN 'scheduled' ELSE 'sent' END,
               CASE WHEN (g % 50 = 0 OR g = ${campaigns}) THEN 0 ELSE ${campaignRows} END, 600
        FROM generate_series(1, ${campaigns}) AS g
        JOIN hist_labels l ON l.idx = g % ${labels}
        ORDER BY g
        RETURNING id
      )
      SELECT min(id) AS first_campaign FROM created`

    await tx`
      CREATE TEMP TABLE hist_owners ON COMMIT DROP AS
      SELECT 'b' AS kind, b.id AS broadcast_id, NULL::integer AS campaign_id, b.run_at, b.delay,
             b.first_message, b.second_message, ${broadcastRows}::int AS n_rows, (b.id * 7919) % ${eligible} AS offset_idx
      FROM public.broadcasts b WHERE b.id >= ${firstBroadcast} AND NOT b.editable
      UNION ALL
      SELECT 'c', NULL, c.id, c.run_at, c.delay, c.first_message, c.second_message, ${campaignRows}, (c.id * 104729) % ${eligible}
      FROM public.campaigns c WHERE c.id >= ${firstCampaign} AND c.processed`

    // The statuses: Twilio's verdict 93 % delivered, 3 % undelivered, 2 % failed, 2 % still `sent`.
    const [{ first_status: firstStatus }] =
      await tx`SELECT coalesce(max(id), 0) + 1 AS first_status FROM public.message_statuses`
    await tx`
      INSERT INTO public.message_statuses (created_at, recipient_phone_number, missive_id, missive_conversation_id,
        twilio_sent_at, broadcast_id, campaign_id, is_second, twilio_sent_status, twilio_id, message,
        audience_segment_id, closed)
      SELECT t.at, e.phone_number, gen_random_uuid(), e.conversation_id, t.at + interval '4 seconds',
             o.broadcast_id, o.campaign_id, t.is_second,
             (CASE WHEN t.h < 930 THEN 'delivered' WHEN t.h < 960 THEN 'undelivered' WHEN t.h < 980 THEN 'failed' ELSE 'sent' END)::public.twilio_status,
             'SM' || md5(o.kind || coalesce(o.broadcast_id, o.campaign_id) || '-' || j),
             CASE WHEN t.is_second THEN coalesce(o.second_message, o.first_message)
                  WHEN o.kind = 'c' AND o.first_message = 'Personalized campaign' THEN 'Hi reader ' || e.idx || ', your personalized note'
                  ELSE o.first_message END,
             CASE WHEN o.kind = 'b' THEN CASE WHEN j % 10 < 8 THEN ${segments.readers}::bigint ELSE ${segments.inactive}::bigint END END,
             false
      FROM hist_owners o
      CROSS JOIN LATERAL generate_series(0, o.n_rows - 1) AS j
      CROSS JOIN LATERAL (
        SELECT CASE WHEN o.kind = 'b' THEN j % 2 = 1 ELSE false END AS is_second,
               CASE WHEN o.kind = 'b' THEN j / 2 ELSE j END AS k,
               ((j + coalesce(o.broadcast_id, o.campaign_id)) * 2654435761::bigint) % 1000 AS h,
               o.run_at + make_interval(secs => (CASE WHEN o.kind = 'b' THEN j / 2 ELSE j END) * 1.2)
                 + CASE WHEN o.kind = 'b' AND j % 2 = 1 THEN make_interval(secs => o.delay) ELSE interval '0' END AS at
      ) AS t
      JOIN hist_eligible e ON e.idx = (o.offset_idx + t.k) % ${eligible}`

    // The ledger: one `sent` row per status, as the sender leaves it.
    const sends = await tx`
      INSERT INTO public.message_sends (broadcast_id, campaign_id, recipient_phone_number, is_second, state, queue_name,
        attempts, missive_id, missive_conversation_id, message_status_id, last_http_status, created_at, updated_at)
      SELECT s.broadcast_id, s.campaign_id, s.recipient_phone_number, s.is_second, 'sent',
             CASE WHEN s.is_second THEN 'broadcast_second_messages' ELSE 'broadcast_first_messages' END,
             1, s.missive_id, s.missive_conversation_id, s.id, 201, s.created_at, s.created_at
      FROM public.message_statuses s WHERE s.id >= ${firstStatus}`

    // twilio_messages: 80 % outgoing copies of sent messages, 20 % replies (from the recipient,
    // an hour later, to the status's broadcast or campaign). An unsubscribed author never got a
    // send here, so STOP replies (0.5 % of replies) come from eligible authors who then unsubscribed.
    const outgoing = Math.floor(twilioMessages * 0.8)
    const replies = twilioMessages - outgoing
    const [{ statusRows }] =
      await tx`SELECT count(*)::int AS "statusRows" FROM public.message_statuses WHERE id >= ${firstStatus}`
    // Sampled with random() (seeded above, so a run is repeatable), a little over the share and
    // cut by LIMIT: ids have a pattern (first / second message alternate) a modulo would follow.
    const outgoingShare = Math.min(1, (outgoing / Math.max(statusRows, 1)) * 1.05)
    const outgoingRows = await tx`
      INSERT INTO public.twilio_messages (preview, type, delivered_at, "references", created_at, external_id,
        from_field, to_field, is_reply)
      SELECT s.message, 'twilio', s.created_at + interval '3 seconds', '{}', s.created_at, s.twilio_id,
             ${NEWSROOM_PHONE}, s.recipient_phone_number, false
      FROM public.message_statuses s
      WHERE s.id >= ${firstStatus} AND random() < ${outgoingShare}
      LIMIT ${outgoing}`
    const [{ firstRows }] = await tx`
      SELECT count(*)::int AS "firstRows" FROM public.message_statuses WHERE id >= ${firstStatus} AND NOT is_second`
    const replyShare = Math.min(1, (replies / Math.max(firstRows, 1)) * 1.05)
    await tx`
      CREATE TEMP TABLE hist_replies ON COMMIT DROP AS
      SELECT gen_random_uuid() AS id, s.id AS status_id, s.broadcast_id, s.campaign_id, s.recipient_phone_number,
             s.created_at + interval '1 hour' AS at, s.id % 200 = 0 AS stop
      FROM public.message_statuses s
      WHERE s.id >= ${firstStatus} AND NOT s.is_second AND random() < ${replyShare}
      LIMIT ${replies}`
    const replyRows = await tx`
      INSERT INTO public.twilio_messages (id, preview, type, delivered_at, "references", created_at, from_field,
        to_field, is_reply, reply_to_broadcast, reply_to_campaign)
      SELECT r.id, CASE WHEN r.stop THEN 'STOP' ELSE 'Thanks! Can you look into my landlord? (' || r.status_id || ')' END,
             'twilio', r.at, '{}', r.at, r.recipient_phone_number, ${NEWSROOM_PHONE}, true, r.broadcast_id, r.campaign_id
      FROM hist_replies r`
    const unsubscribed = await tx`
      INSERT INTO public.unsubscribed_messages (broadcast_id, twilio_message_id, reply_to, created_at)
      SELECT r.broadcast_id, r.id, r.status_id, r.at FROM hist_replies r WHERE r.stop`
    await tx`
      UPDATE public.authors a SET unsubscribed = true, updated_at = r.at
      FROM hist_replies r WHERE r.stop AND a.phone_number = r.recipient_phone_number`

    return {
      authors,
      broadcasts,
      campaigns,
      statuses: statusRows,
      sends: sends.count,
      twilioMessages: outgoingRows.count + replyRows.count,
      conversations: authors,
      conversationLabels: labelled.count,
      comments: commented.count,
      unsubscribedMessages: unsubscribed.count,
    }
  })
}
