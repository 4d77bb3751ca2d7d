-- API key scopes (tandem/scopes.py), space-separated. Keys made before keep what they could do:
-- all three. NULL reads as no scope at all (fail closed), so every INSERT names its scopes.
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
UPDATE api_keys SET scopes = 'sessions:read sessions:write admin';
