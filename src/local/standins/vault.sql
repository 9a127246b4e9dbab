-- Local stand-in for supabase_vault. Applied only when `supabase_vault` is not an available
-- extension. Same names as Supabase's: vault.secrets, vault.create_secret(secret, name,
-- description) and the vault.decrypted_secrets view. Locally nothing is encrypted: the secrets are
-- sandbox values for the local stack and tests.

CREATE SCHEMA IF NOT EXISTS vault;

CREATE TABLE IF NOT EXISTS vault.secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text UNIQUE,
  description text NOT NULL DEFAULT '',
  secret text NOT NULL,
  key_id uuid,
  nonce bytea,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE OR REPLACE VIEW vault.decrypted_secrets AS
SELECT id, name, description, secret, secret AS decrypted_secret, key_id, nonce, created_at, updated_at
FROM vault.secrets;

CREATE OR REPLACE FUNCTION vault.create_secret(
  new_secret text,
  new_name text DEFAULT NULL,
  new_description text DEFAULT '',
  new_key_id uuid DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
  created uuid;
BEGIN
  INSERT INTO vault.secrets (secret, name, description, key_id)
  VALUES (new_secret, new_name, COALESCE(new_description, ''), new_key_id)
  RETURNING id INTO created;
  RETURN created;
END $$;

CREATE OR REPLACE FUNCTION vault.update_secret(
  secret_id uuid,
  new_secret text DEFAULT NULL,
  new_name text DEFAULT NULL,
  new_description text DEFAULT NULL,
  new_key_id uuid DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE vault.secrets SET
    secret = COALESCE(new_secret, secret),
    name = COALESCE(new_name, name),
    description = COALESCE(new_description, description),
    key_id = COALESCE(new_key_id, key_id),
    updated_at = CURRENT_TIMESTAMP
  WHERE id = secret_id;
END $$;
