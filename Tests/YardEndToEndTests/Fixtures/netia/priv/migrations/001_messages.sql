CREATE TABLE IF NOT EXISTS messages (
    id serial PRIMARY KEY,
    body text NOT NULL,
    inserted_at timestamptz NOT NULL DEFAULT now()
);
