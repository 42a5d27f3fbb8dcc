-- Undo 0002: GetNotes by author falls back to a scan.
DROP INDEX IF EXISTS notes_author_created_idx;
