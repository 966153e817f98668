-- Sign-in failure counters shared by every replica (per client address):
-- a lock counted by one replica holds on all.
CREATE TABLE throttles (
    key        text COLLATE "C" PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    data       json NOT NULL
);
CREATE INDEX throttles_expires_at ON throttles (expires_at);
