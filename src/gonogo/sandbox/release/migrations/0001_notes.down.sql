-- Undo 0001: the notes table and everything in it. Data loss: restore from the restore point.
DROP TABLE IF EXISTS notes;
