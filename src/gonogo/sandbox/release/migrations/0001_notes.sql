-- Notes written by CreateNote, before they are published to the ingest stream.
CREATE TABLE IF NOT EXISTS notes (
    id          uuid PRIMARY KEY,
    text        text NOT NULL,
    author      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
