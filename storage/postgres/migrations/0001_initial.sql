-- Signet's PostgreSQL schema, version 1.
--
-- Each aggregate is one table: a key, the columns that a look-up, a lock or the
-- janitor needs, and the whole record as JSON in "data" (the json type, not jsonb:
-- it keeps the text as written, \u0000 in a client's state included). Keys are
-- COLLATE "C" so that lists come back in byte order, as the contract says.
-- Expiry columns ("expires_at", "delete_after") are what DeleteExpired walks, in
-- bounded batches, through their indexes.

CREATE TABLE clients (
    id   text COLLATE "C" PRIMARY KEY,
    data json NOT NULL
);

CREATE TABLE users (
    id         text COLLATE "C" PRIMARY KEY,
    username   text COLLATE "C" NOT NULL UNIQUE,
    -- storage.FoldEmail(email); NULL when the person has none, so that many may lack one.
    email_fold text COLLATE "C" UNIQUE,
    data       json NOT NULL
);

CREATE TABLE groups (
    name text COLLATE "C" PRIMARY KEY,
    data json NOT NULL
);

CREATE TABLE apis (
    audience text COLLATE "C" PRIMARY KEY,
    data     json NOT NULL
);

CREATE TABLE sessions (
    id         text COLLATE "C" PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL,
    last_seen  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    data       json NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE auth_requests (
    id         text COLLATE "C" PRIMARY KEY,
    -- SHA-256 of the code once issued; unique so that one code names one request.
    code_hash  bytea UNIQUE,
    -- The later of the request's and its code's expiry: a replayed code is still
    -- recognised (and revokes what it issued) until the code itself expires.
    expires_at timestamptz NOT NULL,
    data       json NOT NULL
);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

CREATE TABLE refresh_families (
    id           text COLLATE "C" PRIMARY KEY,
    user_id      text COLLATE "C" NOT NULL,
    revoked      boolean NOT NULL DEFAULT false,
    -- The later of ExpiresAt and KeepUntil: JWT access tokens name the family and
    -- are judged by its Revoked state until they expire.
    delete_after timestamptz NOT NULL,
    data         json NOT NULL
);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
CREATE INDEX refresh_families_delete_after ON refresh_families (delete_after);

CREATE TABLE refresh_tokens (
    hash       text COLLATE "C" PRIMARY KEY,
    family_id  text COLLATE "C" NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    -- NULL until the token is exchanged for its successor.
    rotated_at timestamptz,
    expires_at timestamptz NOT NULL,
    data       json NOT NULL
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Opaque access tokens only: a JWT access token has no record. No foreign key to
-- the family: a token outlives its family's record and stays revoked after it.
CREATE TABLE access_tokens (
    id         text COLLATE "C" PRIMARY KEY,
    family_id  text COLLATE "C",
    revoked    boolean NOT NULL DEFAULT false,
    expires_at timestamptz NOT NULL,
    data       json NOT NULL
);
CREATE INDEX access_tokens_family_id ON access_tokens (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE revoked_jtis (
    jti        text COLLATE "C" PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_jtis_expires_at ON revoked_jtis (expires_at);

CREATE TABLE signing_keys (
    id   text COLLATE "C" PRIMARY KEY,
    data json NOT NULL
);

CREATE TABLE session_clients (
    sid        text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_expires_at ON session_clients (expires_at);

CREATE TABLE logouts (
    id           text COLLATE "C" PRIMARY KEY,
    next_attempt timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    data         json NOT NULL
);
CREATE INDEX logouts_next_attempt ON logouts (next_attempt, id);
CREATE INDEX logouts_expires_at ON logouts (expires_at);

CREATE TABLE grants (
    user_id   text COLLATE "C" NOT NULL,
    client_id text COLLATE "C" NOT NULL,
    data      json NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
