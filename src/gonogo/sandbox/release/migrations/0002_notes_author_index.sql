-- GetNotes by author, newest first.
CREATE INDEX IF NOT EXISTS notes_author_created_idx ON notes (author, created_at DESC);
