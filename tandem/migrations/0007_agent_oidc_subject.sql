-- Single sign-on (viewer/sso.py): the agent's OpenID subject, "ISSUER SUB"; NULL for agents who
-- only sign in with a password. One agent per subject.
ALTER TABLE agents ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX agents_by_oidc_subject ON agents (oidc_subject) WHERE oidc_subject IS NOT NULL;
