-- Tables, types and indexes: the final state of upstream's schema after all its migrations
-- (reference/upstream-database.md §2–§3). Where upstream's SQL migrations and its drizzle model
-- disagree, the SQL migrations win (§10.1). Upstream renamed and altered columns over time; this
-- file creates the end result directly (e.g. `message_statuses`, `twilio_messages.is_reply`,
-- `broadcasts.delay` in seconds, `campaigns.label_ids text[]`).
--
-- Constraint and index names are upstream's, leftovers included (the `message_statuses` primary key
-- and foreign keys still carry the `broadcast_sent_message_status_` prefix), so SQL and tooling
-- written against production keep working. Columns are in upstream's order (columns added by later
-- migrations come last), so `SELECT *` shapes match too.
--
-- Idempotent: every statement can run again on a database that already has the schema.
-- Queues, cron jobs, SQL functions and the storage bucket live in later files.

CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS moddatetime SCHEMA extensions;

DO $$
BEGIN
  IF to_regtype('public.twilio_status') IS NULL THEN
    CREATE TYPE public.twilio_status AS ENUM
      ('delivered', 'undelivered', 'failed', 'received', 'sent', 'delivery_unknown');
  END IF;
END $$;

---------------------------------------------------------------------------------------------------
-- Missive organisation mirror
---------------------------------------------------------------------------------------------------

-- Missive organizations.
CREATE TABLE IF NOT EXISTS public.organizations (
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz,
  name       text        NOT NULL,
  id         uuid        NOT NULL DEFAULT gen_random_uuid(),
  CONSTRAINT organizations_pkey PRIMARY KEY (id)
);

-- Missive teams (id is Missive's).
CREATE TABLE IF NOT EXISTS public.teams (
  created_at      timestamptz NOT NULL DEFAULT now(),
  name            text,
  id              uuid        NOT NULL,
  organization_id uuid,
  updated_at      timestamptz,
  CONSTRAINT teams_pkey PRIMARY KEY (id),
  CONSTRAINT teams_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES public.organizations (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS teams_organization_id_idx ON public.teams (organization_id);

-- Missive users (editors); id is Missive's.
CREATE TABLE IF NOT EXISTS public.users (
  created_at timestamptz,
  updated_at timestamptz,
  email      text,
  name       text,
  avatar_url text,
  id         uuid NOT NULL,
  CONSTRAINT users_pkey PRIMARY KEY (id)
);

-- Name/email changes of Missive users.
-- Upstream also has idx_user_history_id on (id): omitted, the primary key index already covers it.
CREATE TABLE IF NOT EXISTS public.user_history (
  id         serial,
  created_at timestamptz NOT NULL DEFAULT now(),
  name       text,
  email      text,
  user_id    uuid        NOT NULL,
  CONSTRAINT user_history_pkey PRIMARY KEY (id),
  CONSTRAINT user_history_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS user_history_user_id_idx ON public.user_history (user_id);

-- Missive rules that call the webhooks.
CREATE TABLE IF NOT EXISTS public.rules (
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz,
  description text        NOT NULL,
  type        text        NOT NULL,
  id          uuid        NOT NULL DEFAULT gen_random_uuid(),
  CONSTRAINT rules_pkey PRIMARY KEY (id)
);

---------------------------------------------------------------------------------------------------
-- Subscribers, labels, conversations
---------------------------------------------------------------------------------------------------

-- One row per phone number (subscriber). Eligible for sends: unsubscribed = false AND exclude = false.
CREATE TABLE IF NOT EXISTS public.authors (
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz,
  name                  text,
  phone_number          text        NOT NULL,
  unsubscribed          boolean     NOT NULL DEFAULT false,
  zipcode               varchar,
  email                 text,
  exclude               boolean              DEFAULT false,
  added_via_file_upload boolean              DEFAULT false,
  CONSTRAINT authors_pkey PRIMARY KEY (phone_number)
);
CREATE INDEX IF NOT EXISTS idx_authors_phone_unsub_exclude
  ON public.authors (phone_number, unsubscribed, exclude);

-- Missive shared labels; campaign segments are label ids from here.
CREATE TABLE IF NOT EXISTS public.labels (
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz,
  id                      uuid        NOT NULL DEFAULT gen_random_uuid(),
  name                    text        NOT NULL DEFAULT '',
  name_with_parent_names  text        NOT NULL DEFAULT '',
  color                   text,
  parent                  uuid,
  share_with_organization boolean              DEFAULT false,
  visibility              text,
  CONSTRAINT labels_pkey PRIMARY KEY (id)
);

-- Missive conversations (id is Missive's conversation id).
CREATE TABLE IF NOT EXISTS public.conversations (
  id                        uuid        NOT NULL DEFAULT gen_random_uuid(),
  created_at                timestamptz NOT NULL DEFAULT now(),
  messages_count            integer     NOT NULL DEFAULT 0,
  drafts_count              integer     NOT NULL DEFAULT 0,
  send_later_messages_count integer     NOT NULL DEFAULT 0,
  attachments_count         integer     NOT NULL DEFAULT 0,
  tasks_count               integer     NOT NULL DEFAULT 0,
  completed_tasks_count     integer     NOT NULL DEFAULT 0,
  subject                   text,
  latest_message_subject    text,
  assignee_names            text,
  assignee_emails           text,
  shared_label_names        text,
  web_url                   text        NOT NULL,
  app_url                   text        NOT NULL,
  updated_at                timestamptz,
  closed                    boolean,
  organization_id           uuid,
  team_id                   uuid,
  CONSTRAINT conversations_pkey PRIMARY KEY (id),
  CONSTRAINT conversations_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES public.organizations (id) ON DELETE CASCADE,
  CONSTRAINT conversations_team_id_fkey FOREIGN KEY (team_id)
    REFERENCES public.teams (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS conversations_organization_id_idx ON public.conversations (organization_id);
CREATE INDEX IF NOT EXISTS conversations_team_id_idx ON public.conversations (team_id);

-- Which labels are (or were: is_archived) on which conversation; created_at = when applied.
CREATE TABLE IF NOT EXISTS public.conversations_labels (
  id              serial,
  created_at      timestamptz NOT NULL DEFAULT now(),
  conversation_id uuid        NOT NULL,
  label_id        uuid        NOT NULL,
  updated_at      timestamptz,
  is_archived     boolean     NOT NULL DEFAULT false,
  CONSTRAINT conversations_labels_pkey PRIMARY KEY (id),
  CONSTRAINT conversations_labels_conversation_id_fkey FOREIGN KEY (conversation_id)
    REFERENCES public.conversations (id) ON UPDATE CASCADE,
  CONSTRAINT conversations_labels_label_id_fkey FOREIGN KEY (label_id)
    REFERENCES public.labels (id) ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_conversations_labels_label_created
  ON public.conversations_labels (created_at, label_id);
-- Not partial despite its name: archived rows collide too (upstream's shape, kept).
CREATE UNIQUE INDEX IF NOT EXISTS idx_unique_active_conversation_label
  ON public.conversations_labels (conversation_id, label_id);

-- Which phone numbers take part in which conversation (no FK on conversation_id, as upstream).
-- Upstream also has idx_conversations_authors_conv_phone on (conversation_id, author_phone_number):
-- omitted, the unique constraint's index on the same columns already serves it.
CREATE TABLE IF NOT EXISTS public.conversations_authors (
  id                  serial,
  created_at          timestamptz NOT NULL DEFAULT now(),
  conversation_id     uuid        NOT NULL,
  author_phone_number text,
  CONSTRAINT conversations_authors_pkey PRIMARY KEY (id),
  CONSTRAINT conversations_authors_conversation_id_author_phone_number_key
    UNIQUE (conversation_id, author_phone_number),
  CONSTRAINT conversations_authors_author_phone_number_fkey FOREIGN KEY (author_phone_number)
    REFERENCES public.authors (phone_number) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS conversations_authors_author_phone_number_idx
  ON public.conversations_authors (author_phone_number);

-- Current assignment/state flags of a user on a conversation (upserted by the webhook).
CREATE TABLE IF NOT EXISTS public.conversations_users (
  id              serial,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz,
  conversation_id uuid        NOT NULL,
  user_id         uuid        NOT NULL,
  unassigned      boolean     NOT NULL DEFAULT false,
  closed          boolean     NOT NULL DEFAULT false,
  archived        boolean     NOT NULL DEFAULT false,
  trashed         boolean     NOT NULL DEFAULT false,
  junked          boolean     NOT NULL DEFAULT false,
  assigned        boolean     NOT NULL DEFAULT false,
  flagged         boolean     NOT NULL DEFAULT false,
  snoozed         boolean     NOT NULL DEFAULT false,
  CONSTRAINT conversations_users_pkey PRIMARY KEY (id),
  CONSTRAINT conversations_users_unique_key UNIQUE (conversation_id, user_id),
  CONSTRAINT conversations_users_conversation_id_fkey FOREIGN KEY (conversation_id)
    REFERENCES public.conversations (id),
  CONSTRAINT conversations_users_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES public.users (id)
);
CREATE INDEX IF NOT EXISTS conversations_users_user_id_idx ON public.conversations_users (user_id);

-- Assignment/state flags per user and conversation, as reported by webhook events.
CREATE TABLE IF NOT EXISTS public.conversations_assignees (
  id              serial,
  created_at      timestamptz NOT NULL DEFAULT now(),
  unassigned      boolean     NOT NULL DEFAULT false,
  closed          boolean     NOT NULL DEFAULT false,
  archived        boolean     NOT NULL DEFAULT false,
  trashed         boolean     NOT NULL DEFAULT false,
  junked          boolean     NOT NULL DEFAULT false,
  assigned        boolean     NOT NULL DEFAULT false,
  flagged         boolean     NOT NULL DEFAULT false,
  snoozed         boolean     NOT NULL DEFAULT false,
  updated_at      timestamptz,
  conversation_id uuid        NOT NULL,
  user_id         uuid        NOT NULL,
  CONSTRAINT conversations_assignees_pkey PRIMARY KEY (id),
  CONSTRAINT conversations_assignees_conversation_id_fkey FOREIGN KEY (conversation_id)
    REFERENCES public.conversations (id) ON DELETE CASCADE,
  CONSTRAINT conversations_assignees_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS conversations_assignees_conversation_id_idx
  ON public.conversations_assignees (conversation_id);
CREATE INDEX IF NOT EXISTS conversations_assignees_user_id_idx
  ON public.conversations_assignees (user_id);

-- One row per conversation change event from the webhook.
CREATE TABLE IF NOT EXISTS public.conversation_history (
  id              serial,
  created_at      timestamptz NOT NULL DEFAULT now(),
  conversation_id uuid        NOT NULL,
  change_type     text,
  team_id         uuid,
  CONSTRAINT conversation_history_pkey PRIMARY KEY (id),
  CONSTRAINT conversation_history_conversation_id_fkey FOREIGN KEY (conversation_id)
    REFERENCES public.conversations (id) ON DELETE CASCADE,
  CONSTRAINT conversation_history_team_id_fkey FOREIGN KEY (team_id)
    REFERENCES public.teams (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS conversation_history_conversation_id_idx
  ON public.conversation_history (conversation_id);
CREATE INDEX IF NOT EXISTS conversation_history_team_id_idx
  ON public.conversation_history (team_id);

-- Assignment/state flags captured with a conversation_history event.
CREATE TABLE IF NOT EXISTS public.conversations_assignees_history (
  id                      serial,
  created_at              timestamptz NOT NULL DEFAULT now(),
  unassigned              boolean     NOT NULL DEFAULT false,
  closed                  boolean     NOT NULL DEFAULT false,
  archived                boolean     NOT NULL DEFAULT false,
  trashed                 boolean     NOT NULL DEFAULT false,
  junked                  boolean     NOT NULL DEFAULT false,
  assigned                boolean     NOT NULL DEFAULT false,
  flagged                 boolean     NOT NULL DEFAULT false,
  snoozed                 boolean     NOT NULL DEFAULT false,
  conversation_history_id bigint,
  CONSTRAINT conversations_assignees_history_pkey PRIMARY KEY (id),
  CONSTRAINT conversations_assignees_history_conversation_history_id_fkey
    FOREIGN KEY (conversation_history_id)
    REFERENCES public.conversation_history (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS conversations_assignees_history_conversation_history_id_idx
  ON public.conversations_assignees_history (conversation_history_id);

-- Missive comments (internal notes and tasks) on conversations.
CREATE TABLE IF NOT EXISTS public.comments (
  created_at        timestamptz NOT NULL DEFAULT now(),
  body              text,
  task_completed_at timestamptz,
  user_id           uuid        NOT NULL,
  is_task           boolean     NOT NULL DEFAULT false,
  id                uuid        NOT NULL DEFAULT gen_random_uuid(),
  conversation_id   uuid,
  attachment        jsonb,
  CONSTRAINT comments_pkey PRIMARY KEY (id),
  CONSTRAINT comments_conversation_id_fkey FOREIGN KEY (conversation_id)
    REFERENCES public.conversations (id) ON DELETE CASCADE,
  CONSTRAINT comments_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS comments_conversation_id_idx ON public.comments (conversation_id);
CREATE INDEX IF NOT EXISTS comments_user_id_idx ON public.comments (user_id);

-- Users and teams @-mentioned in a comment.
CREATE TABLE IF NOT EXISTS public.comments_mentions (
  id         serial,
  created_at timestamptz NOT NULL DEFAULT now(),
  comment_id uuid        NOT NULL,
  user_id    uuid,
  team_id    uuid,
  updated_at timestamptz,
  CONSTRAINT comments_mentions_pkey PRIMARY KEY (id),
  CONSTRAINT comments_mentions_comment_id_fkey FOREIGN KEY (comment_id)
    REFERENCES public.comments (id),
  CONSTRAINT comments_mentions_team_id_fkey FOREIGN KEY (team_id)
    REFERENCES public.teams (id),
  CONSTRAINT comments_mentions_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES public.users (id)
);
CREATE INDEX IF NOT EXISTS comments_mentions_comment_id_idx ON public.comments_mentions (comment_id);
CREATE INDEX IF NOT EXISTS comments_mentions_user_id_idx ON public.comments_mentions (user_id);
CREATE INDEX IF NOT EXISTS comments_mentions_team_id_idx ON public.comments_mentions (team_id);

-- Users assigned to a task comment.
CREATE TABLE IF NOT EXISTS public.tasks_assignees (
  id         serial,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz,
  comment_id uuid        NOT NULL,
  user_id    uuid        NOT NULL,
  CONSTRAINT tasks_assignees_pkey PRIMARY KEY (id),
  CONSTRAINT tasks_assignees_comment_id_fkey FOREIGN KEY (comment_id)
    REFERENCES public.comments (id) ON DELETE CASCADE,
  CONSTRAINT tasks_assignees_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tasks_assignees_comment_id_idx ON public.tasks_assignees (comment_id);
CREATE INDEX IF NOT EXISTS tasks_assignees_user_id_idx ON public.tasks_assignees (user_id);

---------------------------------------------------------------------------------------------------
-- Broadcasts and campaigns
---------------------------------------------------------------------------------------------------

-- Named SQL queries yielding `phone_number`s for broadcasts ('Inactive' is a magic name).
CREATE TABLE IF NOT EXISTS public.audience_segments (
  id          serial,
  created_at  timestamptz NOT NULL DEFAULT now(),
  query       text        NOT NULL,
  description text        NOT NULL,
  name        text,
  CONSTRAINT audience_segments_pkey PRIMARY KEY (id)
);

-- One row per recurring broadcast run; the row with editable = true is the upcoming one.
-- delay is in seconds between the first and the second message.
CREATE TABLE IF NOT EXISTS public.broadcasts (
  id                      serial,
  created_at              timestamptz NOT NULL DEFAULT now(),
  run_at                  timestamptz,
  delay                   integer     NOT NULL DEFAULT 600,
  updated_at              timestamptz,
  editable                boolean     NOT NULL DEFAULT true,
  no_users                integer     NOT NULL DEFAULT 0,
  first_message           text        NOT NULL,
  second_message          text        NOT NULL,
  twilio_paging           text,
  original_first_message  text,
  original_second_message text,
  CONSTRAINT broadcasts_pkey PRIMARY KEY (id)
);
COMMENT ON COLUMN public.broadcasts.original_first_message IS
  'Stores the original first message before URL shortening';
COMMENT ON COLUMN public.broadcasts.original_second_message IS
  'Stores the original second message before URL shortening';

-- Which audience segments a broadcast targets, each with a percentage (ratio) of no_users.
CREATE TABLE IF NOT EXISTS public.broadcasts_segments (
  id             serial,
  created_at     timestamptz NOT NULL DEFAULT now(),
  broadcast_id   bigint      NOT NULL,
  segment_id     bigint      NOT NULL,
  ratio          smallint    NOT NULL,
  first_message  text,
  second_message text,
  CONSTRAINT broadcasts_segments_pkey PRIMARY KEY (id),
  CONSTRAINT broadcast_id_segment_id_unique UNIQUE (broadcast_id, segment_id),
  CONSTRAINT broadcasts_segments_broadcast_id_fkey FOREIGN KEY (broadcast_id)
    REFERENCES public.broadcasts (id) ON DELETE CASCADE,
  CONSTRAINT broadcasts_segments_segment_id_fkey FOREIGN KEY (segment_id)
    REFERENCES public.audience_segments (id) ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS broadcasts_segments_broadcast_id_segment_id_idx
  ON public.broadcasts_segments (broadcast_id, segment_id);
CREATE INDEX IF NOT EXISTS broadcasts_segments_segment_id_idx
  ON public.broadcasts_segments (segment_id);

-- Weekly broadcast schedule, append-only: the active row with the highest id wins.
-- Day columns are America/Detroit local times; NULL = no broadcast that day.
CREATE TABLE IF NOT EXISTS public.broadcast_settings (
  id         bigint      GENERATED ALWAYS AS IDENTITY,
  mon        time,
  tue        time,
  wed        time,
  thu        time,
  fri        time,
  sat        time,
  sun        time,
  active     boolean     NOT NULL DEFAULT true,
  created_at timestamptz          DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT broadcast_settings_pkey PRIMARY KEY (id)
);

-- One-time scheduled sends: label-segment based, CSV-file based (recipient_file_url set) or personalized.
CREATE TABLE IF NOT EXISTS public.campaigns (
  id                 serial,
  title              text,
  first_message      text        NOT NULL,
  second_message     text,
  segments           jsonb,
  delay              integer     NOT NULL DEFAULT 600,
  run_at             timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  processed          boolean     NOT NULL DEFAULT false,
  twilio_paging      text,
  recipient_count    integer              DEFAULT 0,
  recipient_file_url text,
  label_ids          text[]               DEFAULT '{}',
  CONSTRAINT campaigns_pkey PRIMARY KEY (id)
);

CREATE OR REPLACE TRIGGER handle_updated_at_campaigns
  BEFORE UPDATE ON public.campaigns
  FOR EACH ROW EXECUTE FUNCTION extensions.moddatetime(updated_at);

CREATE OR REPLACE TRIGGER handle_updated_at_conversations_labels
  BEFORE UPDATE ON public.conversations_labels
  FOR EACH ROW EXECUTE FUNCTION extensions.moddatetime(updated_at);

-- Phone numbers from an uploaded CSV, waiting for their campaign to be queued.
CREATE TABLE IF NOT EXISTS public.campaign_file_recipients (
  id           serial,
  phone_number text        NOT NULL,
  campaign_id  integer     NOT NULL,
  processed    boolean     NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT campaign_file_recipients_pkey PRIMARY KEY (id),
  CONSTRAINT campaign_file_recipients_campaign_id_fkey FOREIGN KEY (campaign_id)
    REFERENCES public.campaigns (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_campaign_file_recipients_campaign_id
  ON public.campaign_file_recipients (campaign_id);
CREATE UNIQUE INDEX IF NOT EXISTS unique_phone_per_campaign
  ON public.campaign_file_recipients (phone_number, campaign_id);

-- Inbox for personalized campaigns (phone_number, message); a statement trigger turns each INSERT
-- into a campaign.
CREATE TABLE IF NOT EXISTS public.campaign_personalized_recipients (
  id           serial,
  phone_number text        NOT NULL,
  message      text        NOT NULL,
  created_at   timestamptz DEFAULT now(),
  CONSTRAINT campaign_personalized_recipients_pkey PRIMARY KEY (id)
);

---------------------------------------------------------------------------------------------------
-- Message delivery tracking
---------------------------------------------------------------------------------------------------

-- One row per SMS handed to Missive, for a broadcast (broadcast_id) or a campaign (campaign_id).
-- Formerly broadcast_sent_message_status: the primary key and foreign keys keep that prefix.
-- twilio_sent_status defaults to 'delivered' before Twilio confirms anything (upstream's shape):
-- a real delivery also has twilio_id set.
CREATE TABLE IF NOT EXISTS public.message_statuses (
  id                      serial,
  created_at              timestamptz NOT NULL DEFAULT now(),
  recipient_phone_number  text        NOT NULL,
  missive_id              uuid        NOT NULL,
  missive_conversation_id uuid        NOT NULL,
  twilio_sent_at          timestamptz,
  broadcast_id            bigint,
  is_second               boolean     NOT NULL,
  updated_at              timestamptz,
  twilio_sent_status      public.twilio_status DEFAULT 'delivered',
  twilio_id               text,
  message                 text        NOT NULL,
  audience_segment_id     bigint,
  closed                  boolean              DEFAULT false,
  second_message_queue_id bigint,
  campaign_id             integer,
  CONSTRAINT broadcast_sent_message_status_pkey PRIMARY KEY (id),
  CONSTRAINT message_statuses_missive_id_key UNIQUE (missive_id),
  CONSTRAINT broadcast_sent_message_status_recipient_phone_number_fkey
    FOREIGN KEY (recipient_phone_number)
    REFERENCES public.authors (phone_number) ON DELETE CASCADE,
  CONSTRAINT broadcast_sent_message_status_broadcast_id_fkey FOREIGN KEY (broadcast_id)
    REFERENCES public.broadcasts (id) ON DELETE CASCADE,
  CONSTRAINT broadcast_sent_message_status_audience_segment_id_fkey FOREIGN KEY (audience_segment_id)
    REFERENCES public.audience_segments (id),
  CONSTRAINT message_statuses_campaign_id_fkey FOREIGN KEY (campaign_id)
    REFERENCES public.campaigns (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_message_statuses_created_recipient
  ON public.message_statuses (created_at, recipient_phone_number);
CREATE INDEX IF NOT EXISTS message_statuses_audience_segment_id_idx
  ON public.message_statuses (audience_segment_id);
CREATE INDEX IF NOT EXISTS message_statuses_broadcast_id_idx
  ON public.message_statuses (broadcast_id);
CREATE INDEX IF NOT EXISTS message_statuses_recipient_phone_number_idx
  ON public.message_statuses (recipient_phone_number);
CREATE INDEX IF NOT EXISTS idx_message_statuses_campaign_id
  ON public.message_statuses (campaign_id);

-- Mirror of SMS messages (incoming and outgoing) from Missive webhooks; id is Missive's message id.
-- reply_to_broadcast / reply_to_campaign carry no foreign key (upstream dropped the broadcast one).
-- Upstream has two identical indexes on (created_at, from_field, is_reply):
-- idx_tm_from_created_broadcast is omitted, idx_twilio_messages_created_from_broadcast is kept.
CREATE TABLE IF NOT EXISTS public.twilio_messages (
  id                 uuid        NOT NULL DEFAULT gen_random_uuid(),
  preview            text        NOT NULL,
  type               text,
  delivered_at       timestamptz NOT NULL,
  updated_at         timestamptz,
  "references"       text[]      NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  external_id        text,
  attachments        text,
  from_field         text        NOT NULL,
  to_field           text        NOT NULL,
  is_reply           boolean     NOT NULL DEFAULT false,
  reply_to_broadcast bigint,
  sender_id          uuid,
  reply_to_campaign  bigint,
  CONSTRAINT twilio_messages_pkey PRIMARY KEY (id),
  CONSTRAINT public_twilio_messages_duplicate_from_field_fkey FOREIGN KEY (from_field)
    REFERENCES public.authors (phone_number),
  CONSTRAINT public_twilio_messages_duplicate_to_field_fkey FOREIGN KEY (to_field)
    REFERENCES public.authors (phone_number),
  CONSTRAINT twilio_messages_sender_id_fkey FOREIGN KEY (sender_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_twilio_messages_created_from_broadcast
  ON public.twilio_messages (created_at, from_field, is_reply);
CREATE INDEX IF NOT EXISTS idx_twilio_messages_delivered_from
  ON public.twilio_messages (delivered_at, from_field);
CREATE INDEX IF NOT EXISTS idx_twilio_messages_delivered_to
  ON public.twilio_messages (delivered_at, to_field);
CREATE INDEX IF NOT EXISTS twilio_messages_created_at_idx ON public.twilio_messages (created_at);
CREATE INDEX IF NOT EXISTS twilio_messages_new_from_field_idx ON public.twilio_messages (from_field);
CREATE INDEX IF NOT EXISTS twilio_messages_new_to_field_idx ON public.twilio_messages (to_field);
CREATE INDEX IF NOT EXISTS twilio_messages_reply_to_broadcast_idx
  ON public.twilio_messages (reply_to_broadcast);
CREATE INDEX IF NOT EXISTS twilio_messages_sender_id_idx ON public.twilio_messages (sender_id);

-- Opt-outs: the incoming message that unsubscribed an author, and what it replied to.
CREATE TABLE IF NOT EXISTS public.unsubscribed_messages (
  id                serial,
  created_at        timestamptz NOT NULL DEFAULT now(),
  broadcast_id      bigint,
  twilio_message_id uuid        NOT NULL,
  reply_to          bigint,
  CONSTRAINT unsubscribed_messages_pkey PRIMARY KEY (id),
  CONSTRAINT public_unsubscribe_messages_broadcast_id_fkey FOREIGN KEY (broadcast_id)
    REFERENCES public.broadcasts (id) ON DELETE CASCADE,
  CONSTRAINT public_unsubscribe_messages_reply_to_fkey FOREIGN KEY (reply_to)
    REFERENCES public.message_statuses (id) ON DELETE CASCADE,
  CONSTRAINT unsubscribed_messages_twilio_message_id_fkey FOREIGN KEY (twilio_message_id)
    REFERENCES public.twilio_messages (id)
);
CREATE INDEX IF NOT EXISTS unsubscribed_messages_broadcast_id_idx
  ON public.unsubscribed_messages (broadcast_id);
CREATE INDEX IF NOT EXISTS unsubscribed_messages_twilio_message_id_idx
  ON public.unsubscribed_messages (twilio_message_id);
CREATE INDEX IF NOT EXISTS unsubscribed_messages_reply_to_idx
  ON public.unsubscribed_messages (reply_to);

---------------------------------------------------------------------------------------------------
-- Logs and lookups
---------------------------------------------------------------------------------------------------

-- Raw log of Missive webhook bodies.
CREATE TABLE IF NOT EXISTS public.invoke_history (
  id              serial,
  created_at      timestamptz NOT NULL DEFAULT now(),
  conversation_id uuid,
  request_body    jsonb,
  CONSTRAINT invoke_history_pkey PRIMARY KEY (id)
);

-- Webhook processing errors.
CREATE TABLE IF NOT EXISTS public.errors (
  id               serial,
  request_body     text        NOT NULL,
  rule_type        text,
  rule_id          uuid,
  rule_description text,
  message          text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT errors_pkey PRIMARY KEY (id)
);

-- Named text snippets and ids read by the services (e.g. missive_broadcast_post_closing_label_id).
CREATE TABLE IF NOT EXISTS public.lookup_template (
  id         serial,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz,
  name       varchar,
  content    text,
  type       varchar,
  CONSTRAINT lookup_template_pkey PRIMARY KEY (id)
);

-- Staging copy of lookup_template edited from Retool; not read here.
CREATE TABLE IF NOT EXISTS public.lookup_template_staging_for_retool (
  id         serial,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz,
  name       varchar,
  content    text,
  type       varchar,
  CONSTRAINT lookup_template_staging_for_retool_pkey PRIMARY KEY (id)
);

-- Address lookups made by the separate lookup service; not used here.
CREATE TABLE IF NOT EXISTS public.lookup_history (
  id            serial,
  created_at    timestamptz NOT NULL DEFAULT now(),
  address       text    DEFAULT '',
  tax_status    varchar DEFAULT '',
  rental_status varchar DEFAULT '',
  zip_code      varchar DEFAULT '',
  CONSTRAINT lookup_history_pkey PRIMARY KEY (id)
);

---------------------------------------------------------------------------------------------------
-- Legacy tables, kept for shape compatibility with production; nothing here reads or writes them
---------------------------------------------------------------------------------------------------

-- Pre-pgmq outbox of broadcast messages.
CREATE TABLE IF NOT EXISTS public.outgoing_messages (
  id                     serial,
  created_at             timestamptz NOT NULL DEFAULT now(),
  recipient_phone_number text        NOT NULL,
  message                text        NOT NULL,
  broadcast_id           bigint      NOT NULL,
  segment_id             bigint      NOT NULL,
  is_second              boolean     NOT NULL DEFAULT false,
  processed              boolean     NOT NULL DEFAULT false,
  CONSTRAINT outgoing_messages_pkey PRIMARY KEY (id),
  CONSTRAINT unique_phone_number_broadcast_id_is_second
    UNIQUE (recipient_phone_number, broadcast_id, is_second),
  CONSTRAINT public_outgoing_messages_recipient_phone_number_fkey FOREIGN KEY (recipient_phone_number)
    REFERENCES public.authors (phone_number),
  CONSTRAINT outgoing_messages_broadcast_id_fkey FOREIGN KEY (broadcast_id)
    REFERENCES public.broadcasts (id) ON DELETE CASCADE,
  CONSTRAINT outgoing_messages_segment_id_fkey FOREIGN KEY (segment_id)
    REFERENCES public.audience_segments (id) ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS outgoing_messages_broadcast_id_idx ON public.outgoing_messages (broadcast_id);
CREATE INDEX IF NOT EXISTS outgoing_messages_segment_id_idx ON public.outgoing_messages (segment_id);

-- Weekly newsroom report counters.
CREATE TABLE IF NOT EXISTS public.weekly_reports (
  id                         serial,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  conversation_starters_sent integer DEFAULT 0,
  broadcast_replies          integer DEFAULT 0,
  text_ins                   integer DEFAULT 0,
  reporter_conversations     integer DEFAULT 0,
  unsubscribes               integer DEFAULT 0,
  user_satisfaction          integer DEFAULT 0,
  problem_addressed          integer DEFAULT 0,
  crisis_averted             integer DEFAULT 0,
  accountability_gap         integer DEFAULT 0,
  source                     integer DEFAULT 0,
  unsatisfied                integer DEFAULT 0,
  future_keyword             integer DEFAULT 0,
  status_registered          integer DEFAULT 0,
  status_unregistered        integer DEFAULT 0,
  status_tax_debt            integer DEFAULT 0,
  status_no_tax_debt         integer DEFAULT 0,
  status_compliant           integer DEFAULT 0,
  status_foreclosed          integer DEFAULT 0,
  replies_total              integer DEFAULT 0,
  replies_proactive          integer DEFAULT 0,
  replies_receptive          integer DEFAULT 0,
  replies_connected          integer DEFAULT 0,
  replies_passive            integer DEFAULT 0,
  replies_inactive           integer DEFAULT 0,
  unsubscribes_total         integer DEFAULT 0,
  unsubscribes_proactive     integer DEFAULT 0,
  unsubscribes_receptive     integer DEFAULT 0,
  unsubscribes_connected     integer DEFAULT 0,
  unsubscribes_passive       integer DEFAULT 0,
  unsubscribes_inactive      integer DEFAULT 0,
  failed_deliveries          integer DEFAULT 0,
  CONSTRAINT weekly_reports_pkey PRIMARY KEY (id)
);
