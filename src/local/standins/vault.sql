-- Local stand-in for supabase_vault. Applied only when `supabase_vault` is not an available
-- extension. Same names as Supabase's: vault.secrets, vault.create_secret(secret, name,
-- description), vault.update_secret(secret_id, new_secret, new_name, new_description, new_key_id)
-- and the vault.decrypted_secrets view.
--
-- On Supabase `vault.secrets.secret` holds ciphertext, and a value written into it directly (not
-- through create_secret/update_secret) makes the view fail to decrypt. The stand-in keeps that
-- behaviour without real cryptography (the values are sandbox ones): the column holds an encoded
-- form, and anything else raises on read, so a local shortcut that would break production breaks
-- here first.

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

CREATE OR REPLACE FUNCTION vault._local_encrypt(plaintext text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN plaintext IS NULL THEN NULL
    ELSE 'local-vault:' || translate(encode(convert_to(plaintext, 'UTF8'), 'base64'), E'\n', '') END
$$;

CREATE OR REPLACE FUNCTION vault._local_decrypt(ciphertext text, secret_name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF ciphertext IS NULL THEN RETURN NULL; END IF;
  IF ciphertext NOT LIKE 'local-vault:%' THEN
    RAISE EXCEPTION 'vault: cannot decrypt secret % (written into vault.secrets directly? use vault.create_secret or vault.update_secret)',
      coalesce(secret_name, '(unnamed)');
  END IF;
  RETURN convert_from(decode(substr(ciphertext, 13), 'base64'), 'UTF8');
END $$;

CREATE OR REPLACE VIEW vault.decrypted_secrets AS
SELECT id, name, description, secret, vault._local_decrypt(secret, name) AS decrypted_secret, key_id, nonce,
  created_at, updated_at
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
  VALUES (vault._local_encrypt(new_secret), new_name, COALESCE(new_description, ''), new_key_id)
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
    secret = COALESCE(vault._local_encrypt(new_secret), secret),
    name = COALESCE(new_name, name),
    description = COALESCE(new_description, description),
    key_id = COALESCE(new_key_id, key_id),
    updated_at = CURRENT_TIMESTAMP
  WHERE id = secret_id;
END $$;
