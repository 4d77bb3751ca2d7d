-- Masking: selectors whose elements are replaced by a placeholder.
ALTER TABLE masking ADD COLUMN blocks TEXT NOT NULL DEFAULT '[]';
